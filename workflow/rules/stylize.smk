rule stylize:
    input:
        content=content_image,
        styles=style_images,
        # The weight file is verified by its checksum; its date must not rerun everything.
        weights=ancient(weights_file()),
    output:
        final=f"{RUN_DIR}/final.png",
        frames=directory(f"{RUN_DIR}/frames"),
        losses=f"{RUN_DIR}/losses.tsv",
        run_json=f"{RUN_DIR}/run.json",
    log:
        "logs/stylize/{content}/{style}/{setting}.log",
    benchmark:
        "benchmarks/stylize/{content}/{style}/{setting}.tsv"
    conda:
        stylize_conda_env()
    threads: stylize_threads()
    resources:
        gpu=stylize_gpus(),
        mem_mb=stylize_mem_mb,
        runtime=stylize_runtime,
    params:
        options=run_options,
        blend_weights=blend_weights,
        model=PLAN.model,
    script:
        "../scripts/stylize.py"
