"""The server's Prometheus metrics, in a registry of the app's own (several apps in one process, as tests make, must
not share one): requests and errors by route, latency and batch-size histograms, requests in flight, model load time.

Label values stay few: a route is its template (`/models/{name}/predict`, never the name filled in), an error its
kind (the status' reason), so a scanner sending random paths cannot grow the series without bound."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

UNMATCHED = "unmatched"  # the route label of a request no route took (a 404, or refused before routing)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = CONTENT_TYPE_LATEST


# an error status as a label (fixed here: Python's own reason phrases change between versions); others: the number
ERROR_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
               415: "unsupported_media_type", 422: "invalid", 500: "internal", 503: "unavailable"}


def error_kind(status: int) -> str:
    """The label of an error status."""
    return ERROR_KINDS.get(status, str(status))


class Metrics:
    """What the server counts, and its text exposition."""

    def __init__(self) -> None:
        """Declare every metric in a fresh registry."""
        self.registry = CollectorRegistry()
        self.requests = Counter("cnnlab_requests", "HTTP requests answered, by route, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.errors = Counter("cnnlab_request_errors", "HTTP answers of 400 and above, by route and kind.",
                              ["route", "kind"], registry=self.registry)
        self.latency = Histogram("cnnlab_request_duration_seconds", "Time from a request's start to its answer's end.",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("cnnlab_requests_in_flight", "Requests begun and not yet answered.",
                               registry=self.registry)
        self.batch_size = Histogram("cnnlab_batch_size", "Images in each batch the model ran.", ["model"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.images = Counter("cnnlab_images", "Images predicted, by model.", ["model"], registry=self.registry)
        self.load_seconds = Gauge("cnnlab_model_load_seconds", "Time to load the model (and export it for the engine, "
                                  "when that was needed), by model.", ["model"], registry=self.registry)
        self.warmup_seconds = Gauge("cnnlab_model_warmup_seconds", "Time of the model's warm-up batches, by model.",
                                    ["model"], registry=self.registry)
        self.model_info = Gauge("cnnlab_model_info", "1 per model served, its version and engine as labels.",
                                ["model", "version", "engine", "architecture"], registry=self.registry)

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status >= 400:
            self.errors.labels(route, error_kind(status)).inc()

    def batch(self, model: str, size: int) -> None:
        """Count one batch the model ran."""
        self.batch_size.labels(model).observe(size)
        self.images.labels(model).inc(size)

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)
