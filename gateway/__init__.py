"""The HTTP gateway: authenticate, check cheaply, write durably to the queue, answer 202.

`create_app(settings)` in `gateway.app` builds the Flask app; `python -m gateway` runs it under
gunicorn with `gateway/gunicorn_conf.py`. The gateway never touches Zarr or S3.
"""
