rule fetch_weights:
    output:
        f"{WEIGHTS_DIR}/{{filename}}",
    log:
        "logs/fetch_weights/{filename}.log",
    wildcard_constraints:
        filename=weight_file_names(),
    # Compute nodes often have no network: download on the host that runs Snakemake.
    localrule: True
    conda:
        cpu_conda_env()
    params:
        model=model_of_weights,
        mirror=config["weights"]["mirror"],
    script:
        "../scripts/fetch_weights.py"
