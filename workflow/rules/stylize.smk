# One job per content x style x group of settings (one setting, or with `batch: true` those that
# differ only in loss weights). It writes a job folder; rule publish gives each run its folder.
rule stylize:
    input:
        content=content_image,
        styles=style_images,
        # The weight file is verified by its checksum; its date must not rerun everything.
        weights=ancient(weights_file()),
    output:
        job=directory(JOB_DIR),
    log:
        "logs/stylize/{content}/{style}/{group}.log",
    benchmark:
        "benchmarks/stylize/{content}/{style}/{group}.tsv"
    conda:
        stylize_conda_env()
    threads: stylize_threads()
    resources:
        gpu=stylize_gpus(),
        mem_mb=group_mem_mb,
        runtime=group_runtime,
    params:
        members=group_members,
        blend_weights=blend_weights,
        model=PLAN.model,
        # Beside the job folder, not in it: Snakemake deletes a directory output before a rerun,
        # and the rerun of a killed job resumes from this.
        checkpoint=f"{JOB_DIR}.checkpoint.pt",
    script:
        "../scripts/stylize.py"


# A run's files as hard links into its own folder, where the GIF, plot and sheets read them.
rule publish:
    input:
        job=job_of_run,
    output:
        final=f"{RUN_DIR}/final.png",
        frames=directory(f"{RUN_DIR}/frames"),
        losses=f"{RUN_DIR}/losses.tsv",
        run_json=f"{RUN_DIR}/run.json",
    log:
        "logs/publish/{content}/{style}/{setting}.log",
    localrule: True
    conda:
        cpu_conda_env()
    script:
        "../scripts/publish.py"
