rule gif:
    input:
        frames=f"{RUN_DIR}/frames",
    output:
        report(
            f"{RUN_DIR}/progress.gif",
            caption="../report/gif.rst",
            category="Progress GIFs",
            subcategory="{content}",
            labels={
                "content": "{content}",
                "style": "{style}",
                "setting": "{setting}",
            },
        ),
    log:
        "logs/gif/{content}/{style}/{setting}.log",
    group:
        RUN_GROUP
    conda:
        cpu_conda_env()
    resources:
        mem_mb=SMALL_JOBS["gif"][0],
        runtime=SMALL_JOBS["gif"][1],
    params:
        frame_ms=config["present"]["frame_ms"],
        hold_ms=config["present"]["hold_ms"],
    script:
        "../scripts/gif.py"


rule setting_sheet:
    input:
        cells=setting_sheet_cells,
        headers=setting_sheet_headers,
    output:
        report(
            "results/sheets/settings/{setting}.png",
            caption="../report/setting_sheet.rst",
            category="Contact sheets",
            subcategory="By setting",
            labels={"setting": "{setting}"},
        ),
    log:
        "logs/setting_sheet/{setting}.log",
    conda:
        cpu_conda_env()
    resources:
        mem_mb=sheet_mem_mb,
        runtime=memory.SHEET_RUNTIME_MIN,
    params:
        grid=setting_sheet_grid,
        layout=setting_sheet_layout,
        cell=config["present"]["thumbnail"],
    script:
        "../scripts/setting_sheet.py"


rule sweep_sheet:
    input:
        cells=sweep_sheet_cells,
        headers=sweep_sheet_headers,
        scores=sweep_sheet_scores,
    output:
        report(
            "results/sheets/sweeps/{content}/{style}.png",
            caption="../report/sweep_sheet.rst",
            category="Contact sheets",
            subcategory="By content and style",
            labels={"content": "{content}", "style": "{style}"},
        ),
    log:
        "logs/sweep_sheet/{content}/{style}.log",
    conda:
        cpu_conda_env()
    resources:
        mem_mb=sheet_mem_mb,
        runtime=memory.SHEET_RUNTIME_MIN,
    params:
        grid=sweep_sheet_grid,
        layout=sweep_sheet_layout,
        cell=config["present"]["thumbnail"],
        annotate=sweep_sheet_annotate(),
    script:
        "../scripts/sweep_sheet.py"


rule inputs_table:
    input:
        [path for _, _, path in input_images()],
    output:
        report(
            "results/inputs.tsv",
            caption="../report/inputs.rst",
            category="Settings",
        ),
    log:
        "logs/inputs_table.log",
    localrule: True
    conda:
        cpu_conda_env()
    params:
        rows=input_images(),
    script:
        "../scripts/inputs_table.py"


rule settings_table:
    output:
        report(
            "results/settings.tsv",
            caption="../report/settings.rst",
            category="Settings",
        ),
    log:
        "logs/settings_table.log",
    localrule: True
    conda:
        cpu_conda_env()
    params:
        table=settings_table(),
    script:
        "../scripts/settings_table.py"
