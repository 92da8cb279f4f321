# Video (Ruder et al. 2016): every clip of `videos` x every style x every setting, frame by frame.
# A clip's frames, flows and masks are made once per processing size (a setting's image_size)
# and shared by every style and setting; frame i of a run needs frame i-1's result. Without a
# `videos` key there are no video targets and none of these rules runs.
wildcard_constraints:
    clip=sweep.alternatives(VIDEOS) if VIDEOS else "(?!)",
    frame=r"\d{4}",
    size=r"\d+",


rule video_extract:
    input:
        video_file,
    output:
        frames=directory(f"{CLIP_DIR}/frames"),
        info=f"{CLIP_DIR}/clip.json",
    log:
        "logs/video_extract/{clip}/{size}px.log",
    conda:
        cpu_conda_env()
    params:
        video=VIDEO.to_dict(),
    script:
        "../scripts/video_extract.py"


rule video_flow:
    input:
        frames=f"{CLIP_DIR}/frames",
        info=f"{CLIP_DIR}/clip.json",
    output:
        directory(f"{CLIP_DIR}/flow"),
    log:
        "logs/video_flow/{clip}/{size}px.log",
    conda:
        cpu_conda_env()
    script:
        "../scripts/video_flow.py"


rule video_masks:
    input:
        flow=f"{CLIP_DIR}/flow",
        info=f"{CLIP_DIR}/clip.json",
    output:
        directory(f"{CLIP_DIR}/mask"),
    log:
        "logs/video_masks/{clip}/{size}px.log",
    conda:
        cpu_conda_env()
    script:
        "../scripts/video_masks.py"


rule video_frame:
    input:
        frames=clip_frames,
        flow=clip_flow,
        mask=clip_mask,
        info=clip_info,
        previous=previous_frame,
        styles=style_images,
        # The weight file is verified by its checksum; its date must not rerun everything.
        weights=ancient(weights_file()),
    output:
        image=f"{VIDEO_RUN}/frames/{{frame}}.png",
        run_json=f"{VIDEO_RUN}/frames/{{frame}}.run.json",
        losses=f"{VIDEO_RUN}/frames/{{frame}}.losses.tsv",
    log:
        "logs/video_frame/{clip}/{style}/{setting}/{frame}.log",
    conda:
        stylize_conda_env()
    threads: stylize_threads()
    resources:
        gpu=stylize_gpus(),
        mem_mb=video_frame_mem_mb,
        runtime=video_frame_runtime,
    params:
        options=video_frame_options,
        blend_weights=blend_weights,
        model=PLAN.model,
        video=VIDEO.to_dict(),
    script:
        "../scripts/video_frame.py"


rule video_encode:
    input:
        frames=video_run_frames,
        info=clip_info,
    output:
        video=f"{VIDEO_RUN}.mp4",
        gif=f"{VIDEO_RUN}.gif",
    log:
        "logs/video_encode/{clip}/{style}/{setting}.log",
    conda:
        cpu_conda_env()
    script:
        "../scripts/video_encode.py"


rule video_sheet:
    input:
        frames=video_sheet_frames,
        content=clip_frames,
    output:
        f"{VIDEO_RUN}.sheet.png",
    log:
        "logs/video_sheet/{clip}/{style}/{setting}.log",
    conda:
        cpu_conda_env()
    params:
        cell=config["present"]["thumbnail"],
        label="{clip} / {style} / {setting}",
    script:
        "../scripts/video_sheet.py"
