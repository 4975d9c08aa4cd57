"""`python -m cnnlab` runs the command-line tool."""

from cnnlab.cli.app import main

if __name__ == "__main__":
    main()
