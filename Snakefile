"""stylesweep: neural style transfer for every content x style-or-blend x setting."""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


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
