"""A prediction service for a run or an exported model: FastAPI app, request batching, upload limits, a web page."""
