"""Typed configuration: the experiment (``Config``) apart from the run (``RunConfig``), YAML overlays, flags.

``Config`` is the experiment: data, fixes, model, caption fusion, captioner, loss, schedule and post-processing. A
run saves it as ``config.yaml`` and beside every checkpoint; reused as ``--config`` it starts a fresh run of the
same experiment. ``RunConfig`` is how one process runs it (output directory, resume, device, loader workers,
preloading): a run records it in ``run.yaml`` and it never enters an experiment.

Every field name is unique across sections, so the command line is flat and keeps TR-DETR's argument names
(``--bsz --lr --n_epoch --seed --v_feat_dirs ...``); a field's ``help`` metadata is its ``--help`` text. Resolution:
dataclass defaults (TR-DETR's QVHighlights values) < YAML overlays in order (``--config A --config B``: B wins; a
file may name a ``_base_`` file or list of files it extends, relative to itself) < command-line flags. Values are
checked as the config is built: an unknown key, a wrong type or a value outside a ``Literal``'s choices raises
``ConfigError``, one line naming the file or flag and the field. ``None`` (YAML ``null``, ``none`` or an empty value
on the command line) means "not set": a width inferred from the data, no NMS, no audio.

Config dicts written before this layout (run state in ``train``/``data``, the captioner in ``caption``, ``-1``/``0``/
``""`` for "not set") are recognised and upgraded by ``from_dict`` and the YAML reader (``upgrade_legacy``).

Modules: ``schema`` (the dataclasses and the flat field index), ``values`` (type and bound checks), ``legacy`` (the
old layout's upgrade), ``loading`` (YAML overlays, overrides, saving), ``flags`` (argparse from the fields).
"""

from trdetr_cap.config.flags import (
    add_config_arguments,
    add_run_arguments,
    cli_overrides,
    config_from_args,
    run_from_args,
)
from trdetr_cap.config.legacy import is_legacy, upgrade_legacy
from trdetr_cap.config.loading import (
    ConfigPaths,
    apply_overrides,
    default_run_dir,
    from_dict,
    load_config,
    run_config,
    save_config,
    save_run_config,
)
from trdetr_cap.config.schema import (
    DEFAULT_CLIP_MODEL,
    FIELDS,
    RUN_FIELDS,
    SECTION_TYPES,
    SECTIONS,
    AnchorInit,
    CaptionBackend,
    CaptionConfig,
    CaptionerConfig,
    Config,
    ConfigError,
    DataConfig,
    Dataset,
    EarlyFusion,
    FixConfig,
    LossConfig,
    LrSchedule,
    ModelConfig,
    PostprocessConfig,
    Preload,
    RunConfig,
    SpanScale,
    TrainConfig,
    TvsumDomain,
    setting,
)

__all__ = [
    "DEFAULT_CLIP_MODEL", "FIELDS", "RUN_FIELDS", "SECTIONS", "SECTION_TYPES", "AnchorInit", "CaptionBackend",
    "CaptionConfig", "CaptionerConfig", "Config", "ConfigError", "ConfigPaths", "DataConfig", "Dataset",
    "EarlyFusion", "FixConfig", "LossConfig", "LrSchedule", "ModelConfig", "PostprocessConfig", "Preload",
    "RunConfig", "SpanScale", "TrainConfig", "TvsumDomain", "add_config_arguments", "add_run_arguments",
    "apply_overrides", "cli_overrides", "config_from_args", "default_run_dir", "from_dict", "is_legacy",
    "load_config", "run_config", "run_from_args", "save_config", "save_run_config", "setting", "upgrade_legacy",
]
