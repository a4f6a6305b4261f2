"""Rule catalogue, typed tables (pandera schemas) and findings."""

import sys
import types

# When pandera first builds a model's schema it asks whether dask, modin and pyspark are installed, by
# importing them. dask is installed (for reading on a Dask cluster), and importing its dataframe takes half a
# second, which `budgetflow validate` of one file would wait for. budgetflow's models annotate pandas types
# only, so pandera is told at once that its dask annotations are not there; dask itself is unaffected.
if "pandera.typing.dask" not in sys.modules:
    _no_dask_annotations = types.ModuleType("pandera.typing.dask", "pandera's dask annotations: not used here")
    _no_dask_annotations.DASK_INSTALLED = False  # type: ignore[attr-defined]
    sys.modules["pandera.typing.dask"] = _no_dask_annotations
