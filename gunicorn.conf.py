"""gunicorn settings for the web process (the Procfile's `web:`), Heroku-style.

PORT and WEB_CONCURRENCY come from the environment, as on Heroku. Add gunicorn
options with GUNICORN_CMD_ARGS, e.g. GUNICORN_CMD_ARGS="--access-logfile -" (off by
default: Heroku's router already logs every request).
"""

import os

#: gevent (the default) answers many connections per worker, so clients that send
#: their requests slowly wait on their own sockets instead of holding a worker (sync
#: workers would need a buffering proxy in front). RECSVC_WORKER_CLASS=sync or gthread
#: chooses another gunicorn worker class.
worker_class = os.environ.get("RECSVC_WORKER_CLASS", "gevent")
if worker_class == "gevent":
    # Before the app is preloaded: every lock, queue and socket it makes is then
    # cooperative (one made before patching would block a whole worker). psycopg 3
    # waits on the database cooperatively by itself.
    from gevent import monkey

    monkey.patch_all()
worker_connections = 1000

# Serving does linear algebra one request at a time: BLAS threads only slow it down
# (docs/architecture.md: 50x slower fold-in with 2 OpenBLAS threads), and no OpenMP region
# may run multi-threaded in the preloading master. Set before numpy is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# Prometheus' multiprocess mode: every worker writes its samples to files in one folder
# per server, which GET /metrics adds up. Set before the app (and prometheus_client) loads.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="recsvc-metrics-")
    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _made_metrics_dir = None

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Load the app, and so the model, once in the master: the workers share its
# memory-mapped pages, and a worker restart does not reload the model from disk.
preload_app = True
# Heroku's router gives up after 30 s, and sends SIGKILL 30 s after SIGTERM.
timeout = 25
graceful_timeout = 25
keepalive = 5
errorlog = "-"
loglevel = "info"


def child_exit(server, worker):
    """Forget what an exited worker served: /v1/model lists only live workers, and
    /metrics only live workers' gauges (its counters stay in the totals)."""
    from recsvc.metrics import worker_exited
    from recsvc.serving.workers import forget_worker  # after the thread settings above

    forget_worker(os.getpid(), worker.pid)
    worker_exited(worker.pid)


def on_exit(server):
    """Remove the metrics folder this server made."""
    if _made_metrics_dir:
        import shutil

        shutil.rmtree(_made_metrics_dir, ignore_errors=True)


def worker_exit(server, worker):
    """Write what the worker still buffers of its impressions before it goes (a deploy
    or a restart loses none; a killed worker loses at most RECSVC_IMPRESSION_FLUSH_INTERVAL
    seconds of them)."""
    from recsvc.api.extension import RESOURCES_KEY

    resources = getattr(worker.wsgi, "extensions", {}).get(RESOURCES_KEY)
    if resources is not None and resources.serving.impressions is not None:
        resources.serving.impressions.close()


def post_worker_init(worker):
    """Start the worker before its first request: the store's current version loaded
    (a replacement worker must not serve what the master preloaded at start), its entry
    in /v1/model's list of workers, and its background work."""
    from recsvc.api.extension import RESOURCES_KEY

    resources = getattr(worker.wsgi, "extensions", {}).get(RESOURCES_KEY)
    if resources is not None:  # None: the app failed to load, and gunicorn says why
        resources.serving.start()
