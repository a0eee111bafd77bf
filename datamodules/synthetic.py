"""The built-in data, generated once into a cache folder in a real corpus's layout and then read by that
corpus's own reader (so the built-in runs exercise it): synthetic handwriting-like lines in the IAM layout
(the default), synthetic speech in the LibriSpeech layout."""
from __future__ import annotations

from pathlib import Path

from datamodules import synthetic_speech
from datamodules.cache import default_cache_dir
from datamodules.iam import IAMDataModule
from datamodules.librispeech import LibriSpeechDataModule
from datamodules.synthetic_lines import GENERATOR_VERSION, generate_iam_layout


class SyntheticLinesDataModule(IAMDataModule):
    def __init__(self, cache_dir: str | None = None, num_lines: int = 5000, generator_seed: int = 0,
                 text_height: int = 40, **kwargs):
        cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        root = cache / f"synthetic-lines-v{GENERATOR_VERSION}-n{num_lines}-s{generator_seed}-h{text_height}"
        splits = {name: str(root / "splits" / f"{name}.lst") for name in ("train", "val", "test")}
        super().__init__(root=str(root), splits=splits, **kwargs)
        self.num_lines = num_lines
        self.generator_seed = generator_seed
        self.text_height = text_height

    def prepare_data(self) -> None:
        """Generate the data set unless the cache already holds it (a finished generation is reused)."""
        generate_iam_layout(self.root, num_lines=self.num_lines, seed=self.generator_seed,
                            text_height=self.text_height)


class SyntheticSpeechDataModule(LibriSpeechDataModule):
    """eSpeak NG sentences (datamodules/synthetic_speech.py): train on the train subset's voices, validate on
    the dev subset's and test on the test subset's, voices never heard in training. `speakers` and
    `utterances_per_speaker` give the size of each subset, e.g. {train: 40, dev: 8, test: 8}; a subset
    without speakers is not generated and its split stays empty."""

    split_of_subset = {"train": "train", "dev": "val", "test": "test"}

    def __init__(self, speakers: dict[str, int], utterances_per_speaker: dict[str, int], generator_seed: int = 0,
                 cache_dir: str | None = None, **settings):
        speakers, utterances_per_speaker = dict(speakers), dict(utterances_per_speaker)
        synthetic_speech.check_sizes(speakers, utterances_per_speaker)
        sizes = "-".join(f"{subset}{speakers[subset]}x{utterances_per_speaker[subset]}"  # e.g. train40x60-dev8x25
                         for subset in synthetic_speech.SUBSETS if speakers.get(subset))
        cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        dataset_root = cache / f"synthetic-speech-v{synthetic_speech.GENERATOR_VERSION}-{sizes}-s{generator_seed}"
        splits = {self.split_of_subset[subset]: [subset] for subset, count in speakers.items() if count}
        super().__init__(root=str(dataset_root / "LibriSpeech"), splits=splits, **settings)
        self.dataset_root = dataset_root
        self.speakers = speakers
        self.utterances_per_speaker = utterances_per_speaker
        self.generator_seed = generator_seed

    def prepare_data(self) -> None:
        """Generate the data set unless the cache already holds it (a finished generation is reused)."""
        synthetic_speech.generate_librispeech_layout(self.dataset_root, self.speakers, self.utterances_per_speaker,
                                                     self.generator_seed)

    def read_splits(self) -> dict:
        self.prepare_data()  # returns at once when generated: setup may run in a process that skipped it
        return super().read_splits()
