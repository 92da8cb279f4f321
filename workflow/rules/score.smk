# One score job per stylize job (content x style x group of settings: one setting, or with
# `batch: true` a batch), so that the model is loaded once for all the runs the job made and a
# new setting adds only its own score jobs. It reads the finals in the job's folder; rule publish
# then gives each run its scores.json beside its final image. On a cluster it goes in its stylize
# job's submission (group run).
rule score:
    input:
        unpack(run_images),
        job=JOB_DIR,
        # The weight file is verified by its checksum; its date must not rescore everything.
        weights=ancient(weights_file()),
    output:
        f"{JOB_DIR}.scores.json",
    log:
        "logs/score/{content}/{style}/{group}.log",
    benchmark:
        "benchmarks/score/{content}/{style}/{group}.tsv"
    group:
        RUN_GROUP
    conda:
        cpu_conda_env()
    # One thread: on a cluster it runs beside its runs' GIF and loss plot, whose CPUs add up.
    threads: 1
    resources:
        mem_mb=SMALL_JOBS["score"][0],
        runtime=SMALL_JOBS["score"][1],
    params:
        settings=group_setting_ids,
        model=PLAN.model,
        blend_weights=blend_weights,
        score_size=SCORE_SIZE,
    script:
        "../scripts/score.py"


# One row per run: swept values, final losses, scores, time, memory, device, rank.
rule summary:
    input:
        run_json=[run_file(run, "run.json") for run in RUNS],
        scores=[run_file(run, "scores.json") for run in RUNS],
    output:
        report(
            "results/summary.tsv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "logs/summary.log",
    localrule: True
    conda:
        cpu_conda_env()
    params:
        runs=summary_runs(),
        by=PICK_BY,
    script:
        "../scripts/summary.py"


rule tradeoffs:
    input:
        summary="results/summary.tsv",
    output:
        pairs=[
            report(
                path,
                caption="../report/tradeoff.rst",
                category="Trade-offs",
                subcategory=content,
                labels={"content": content, "style": style},
            )
            for path, (content, style) in zip(tradeoff_plots(), tradeoff_pairs())
        ],
        all=report(
            "results/tradeoffs/all.png",
            caption="../report/tradeoffs_all.rst",
            category="Summary",
        ),
    log:
        "logs/tradeoffs.log",
    conda:
        cpu_conda_env()
    resources:
        mem_mb=memory.PLOT_MEM_MB,
        runtime=memory.PLOT_RUNTIME_MIN,
    params:
        pairs=tradeoff_pairs(),
        contents=list(PLAN.contents),
        styles=list(PLAN.styles),
        criterion=pick.describe(PICK_BY),
        stand_in_note=stand_in_note(),
    script:
        "../scripts/tradeoffs.py"


rule best_sheet:
    input:
        summary="results/summary.tsv",
        cells=[run_file(run, "final.png") for run in RUNS],
        headers=setting_sheet_headers,
    output:
        report(
            "results/sheets/best.png",
            caption="../report/best_sheet.rst",
            category="Summary",
        ),
    log:
        "logs/best_sheet.log",
    conda:
        cpu_conda_env()
    resources:
        mem_mb=sheet_mem_mb,
        runtime=memory.SHEET_RUNTIME_MIN,
    params:
        layout=best_sheet_layout(),
        final=final_image_pattern,
        cell=config["present"]["thumbnail"],
    script:
        "../scripts/best_sheet.py"


# The summary, the best sheet and all trade-offs on one self-contained page, also shown on the
# report's first page.
rule overview:
    input:
        summary="results/summary.tsv",
        best="results/sheets/best.png",
        tradeoffs="results/tradeoffs/all.png",
    output:
        page=report(
            "results/summary.html",
            caption="../report/overview.rst",
            category="Summary",
        ),
        # The same without the page around it, for the report's first page (report/workflow.rst).
        body="results/summary_body.html",
    log:
        "logs/overview.log",
    localrule: True
    conda:
        cpu_conda_env()
    params:
        note=stand_in_note(),
    script:
        "../scripts/overview.py"
