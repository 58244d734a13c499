"""The models-from-code file of the registered pyfunc model (``mlflow.pyfunc.log_model(python_model=<this file>)``).

MLflow copies this file into the model and runs it when the model loads, after
putting the model's copy of ``metal_pipeline`` (its ``code_paths``) on
``sys.path``; no pickled Python object is stored. See ``pyfunc_model``.
"""

from mlflow.models import set_model

from metal_pipeline.inference.pyfunc_model import MetalDetectorModel

set_model(MetalDetectorModel())
