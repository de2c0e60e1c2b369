"""What gateway and worker share: configuration, the queue protocol, upload parsing, the merge engine.

Imports neither `gateway` nor `worker` (dependencies point one way: gateway -> shared <- worker).
"""
