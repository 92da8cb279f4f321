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
    wildcard_constraints:
        setting=single_settings(),
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


# With `batch: true`, each group of settings that differ only in loss weights runs as one job
# per content x style, writing every member's run folder as rule stylize would.
for number, batch in enumerate(BATCHES, start=1):

    rule:
        name:
            f"stylize_batch_{number}"
        input:
            content=content_image,
            styles=style_images,
            weights=ancient(weights_file()),
        output:
            final=batch_files(batch, "final.png"),
            frames=directory(batch_files(batch, "frames")),
            losses=batch_files(batch, "losses.tsv"),
            run_json=batch_files(batch, "run.json"),
        log:
            f"logs/stylize/{{content}}/{{style}}/batch-{batch.id}.log",
        benchmark:
            f"benchmarks/stylize/{{content}}/{{style}}/batch-{batch.id}.tsv"
        conda:
            stylize_conda_env()
        threads: stylize_threads()
        resources:
            gpu=stylize_gpus(),
            mem_mb=batch_mem_mb(batch),
            runtime=batch_runtime(batch),
        params:
            options=batch_options(batch),
            settings=batch.setting_ids,
            blend_weights=blend_weights,
            model=PLAN.model,
        script:
            "../scripts/stylize.py"
