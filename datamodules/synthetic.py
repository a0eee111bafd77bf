"""The built-in default data: synthetic handwriting-like lines, generated once into a cache folder in the
IAM layout and then read by the very same IAM reader as real data (so the default run exercises it)."""
from __future__ import annotations

from pathlib import Path

from datamodules.cache import default_cache_dir
from datamodules.iam import IAMDataModule
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
