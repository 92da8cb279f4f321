# One job per content x style x group of settings (one setting, or with `batch: true` those that
# differ only in loss weights). It writes a job folder, with the scores of its runs (the model
# loaded once for all of them, so a new setting scores only its own runs); rule publish gives
# each run its folder. On a cluster the job goes as one submission with its runs' publish and
# gif jobs (group `run`, see RUN_GROUP in common.smk); locally groups do nothing.
rule stylize:
    input:
        unpack(run_images),
        # The weight file is verified by its checksum; its date must not rerun everything.
        weights=ancient(weights_file()),
    output:
        job=directory(JOB_DIR),
    log:
        "logs/stylize/{content}/{style}/{group}.log",
    benchmark:
        "benchmarks/stylize/{content}/{style}/{group}.tsv"
    group:
        RUN_GROUP
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


# A run's own folder: its files as hard links from its stylize job's folder, its scores from the
# job's scores.json, and its loss plot (drawn here: it depends on the losses alone, so a job of
# its own would cost a submission and a process per run for nothing). The GIF and sheets read the
# folder. A change of pick.score_size reruns this job, not stylize: it then scores the run again
# at the new size. On a cluster it runs inside its stylize job's group: as a local rule it would
# pull the whole group onto the host that runs Snakemake.
rule publish:
    input:
        job=job_of_run,
    output:
        final=f"{RUN_DIR}/final.png",
        frames=directory(f"{RUN_DIR}/frames"),
        losses=f"{RUN_DIR}/losses.tsv",
        run_json=f"{RUN_DIR}/run.json",
        scores=f"{RUN_DIR}/scores.json",
        plot=report(
            f"{RUN_DIR}/losses.png",
            caption="../report/loss_plot.rst",
            category="Loss curves",
            subcategory="{content}",
            labels={
                "content": "{content}",
                "style": "{style}",
                "setting": "{setting}",
            },
        ),
    log:
        "logs/publish/{content}/{style}/{setting}.log",
    group:
        RUN_GROUP
    conda:
        cpu_conda_env()
    resources:
        mem_mb=max(memory.PUBLISH_MEM_MB, SMALL_JOBS["score"][0]),
        runtime=memory.PUBLISH_RUNTIME_MIN + 1,  # a run scored again: about a minute at most
    params:
        score_size=SCORE_SIZE,
        # The model's weight file, for scoring again ("" for the random model); the stylize job
        # that made the run had it.
        weights=(weights_file() or [""])[0],
    script:
        "../scripts/publish.py"
