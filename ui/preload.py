"""Import every module of the app (``ui``) and the core once, in one thread, before any session runs a page.

``app.py`` and every page in ``pages/`` import this module before anything else: each Streamlit session is a
thread running ``app.py`` — or, for a page opened by its own URL, the page's script alone (the folder's name makes
Streamlit run it as a version-1 multipage app, ``_mpa_v1``). A second session waits on this module's import lock
until the first has imported everything, so no two sessions ever import one module cycle at the same time (see
:mod:`plm_core.preload` for the two races this prevents).
"""

from __future__ import annotations

from plm_core import preload
from ui import lens

MODULES = preload.MODULES + preload.import_package("ui")
# the Ray client only where the app uses it (PLM_BACKEND=ray): importing Ray costs seconds a start otherwise
if lens.backend_name() == "ray":
    import plm_core.serving.client  # noqa: F401

    MODULES.append("plm_core.serving.client")
