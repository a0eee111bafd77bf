"""One interface over the input modalities: a file -> the model's input tensor (1, H, W).

A checkpoint stores its preprocessing as a dict with a "modality" key; `preprocessor_from_dict` rebuilds the
matching preprocessor. Both preprocessors offer the same members, so training, evaluation and transcription
never branch on the modality:

    modality, file_suffixes            "image" | "audio", the file name suffixes a folder is searched for
    input_height                       H: the normalised image height, or the number of mel bands
    min_length, min_length_setting     the narrowest tensor made, and the config key that sets it
    read(path) -> source               the decoded file: a grayscale PIL image, or a mono waveform (samples,)
    __call__(source) -> (1, H, W)      the model's input
    load(path) -> (1, H, W)            read then call
    frame_geometry(source, stride)     output frames in the source's units (pixels or seconds)
    input_format() -> dict             what a model trained on it requires of its inputs
    to_dict() / from_dict(dict)        the checkpoint's record
"""
from __future__ import annotations

from recog.audio import AudioPreprocessor
from recog.errors import ConfigError
from recog.images import ImagePreprocessor

Preprocessor = ImagePreprocessor | AudioPreprocessor
PREPROCESSORS = {cls.modality: cls for cls in (ImagePreprocessor, AudioPreprocessor)}


def preprocessor_from_dict(settings: dict) -> Preprocessor:
    modality = settings.get("modality")
    if modality not in PREPROCESSORS:
        raise ConfigError(f"unknown input modality {modality!r} in the preprocessing settings "
                          f"(expected one of {sorted(PREPROCESSORS)})")
    return PREPROCESSORS[modality].from_dict(settings)
