"""Serving the core to other processes (``PLM_BACKEND=ray``): what the Ray Serve replica and the app's client share.

- :mod:`plm_core.serving.protocol`: the application's name, how a request names its model, replies that carry a
  ``PlmCoreError`` as data (no Ray import);
- :mod:`plm_core.serving.handles`: the process-wide model cache rules both sides apply (memory budget, ablated
  copies of the cached whole model, the classroom allowlist);
- :mod:`plm_core.serving.ray_replica`: the Ray Serve deployment (needs ``ray[serve]``,
  ``pip install -r requirements-ray.txt``). It imports neither Streamlit nor ``ui``.

- :mod:`plm_core.serving.client`: the client the app uses, :class:`~plm_core.serving.client.RemoteLens` (needs Ray).
"""
