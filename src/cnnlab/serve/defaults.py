"""The server's defaults, each declared once: ServeOptions, Limits, run_server and the command line read them here,
in a module light enough for the command line to import before any command runs (the server's own modules load
torch and FastAPI)."""

HOST, PORT = "127.0.0.1", 8000  # loopback: a server is exposed to the network only when asked
WORKERS = 1
BATCHING = True
MAX_BATCH = 32
MAX_WAIT_MS = 0.0  # a request goes to a free engine at once (batcher.py says why)
MEBIBYTE = 2**20
MAX_UPLOAD_MB = 10.0
MAX_PIXELS = 40_000_000
MAX_FILES = 64
MIN_CONFIDENCE = 0.0
ENGINES = ("auto", "torch", "onnx", "int8")
ENGINE = "auto"
ENGINE_PROCESS = True  # each model computes in a process of its own (engine_process.py says why)
