"""stylesweep: neural style transfer for every content x style-or-blend x setting."""

import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


try:
    validate(config, "workflow/schemas/config.schema.yaml")
except WorkflowError as error:
    # One line naming the key, instead of the schema and the whole config.
    sys.path.insert(0, workflow.basedir)
    from stylesweep.sweep import ConfigError, config_problem

    raise ConfigError(config_problem(error)) from None


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/stylize.smk"
include: "workflow/rules/present.smk"


rule all:
    default_target: True
    input:
        all_targets(),
    localrule: True
