"""Pipeline definitions: steps of registered tasks in a DAG, with a failure policy and the
inbound events that start them. Their runs' state machine lives in `corehub.store`."""

from corehub.pipelines.definition import Pipeline, Step, StepOptions, Trigger
from corehub.store.pipeline_states import FailurePolicy

__all__ = ["FailurePolicy", "Pipeline", "Step", "StepOptions", "Trigger"]
