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
