"""Training and validation of a CTCRecognizer with Lightning.

Everything needed to use the model later travels in the checkpoint's hyperparameters: the model's
constructor arguments, the alphabet, the text normalisation applied to training transcripts, and the
input preprocessing (modality, image height, ...). `CTCRecognitionModule.load_from_checkpoint(path)` alone
rebuilds a working recognizer.
"""
from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from recog.alphabet import Alphabet
from recog.ctc.loss import ctc_loss
from recog.decoding import GreedyDecoder, best_path
from recog.inputs import preprocessor_from_dict
from recog.metrics import ErrorCounts, corpus_error_counts
from recog.optimization import adamw_with_schedule
from recog.text import TextNormalizer

log = logging.getLogger(__name__)


class CTCRecognitionModule(pl.LightningModule):
    def __init__(
        self,
        model: dict,
        alphabet: list[str],
        preprocessing: dict,
        normalizer: dict | None = None,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        metric_normalizer: dict | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.alphabet = Alphabet(alphabet)
        self.preprocessor = preprocessor_from_dict(preprocessing)
        model = dict(model)
        self.loss_implementation = model.pop("loss", "native")  # CTC: "native" (torch) or "reference" (lattice)
        self.model = instantiate(model, num_classes=self.alphabet.num_classes,
                                 input_height=self.preprocessor.input_height, _convert_="all")
        self.decoder = GreedyDecoder(self.alphabet)  # what a Recognizer built from this module decodes with
        self.metric_normalizer = TextNormalizer.from_dict(metric_normalizer)
        self.val_counts = ErrorCounts()

    def forward(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (N, 1, H, W) (images, or log-mel features with H mel bands and W frames), input_lengths (N,)
        -> log_probs (T, N, C) float32, output_lengths (N,)."""
        return self.model(inputs, input_lengths)

    def decode(self, log_probs: torch.Tensor, output_lengths: torch.Tensor) -> list[str]:
        """Best path on the model's own output, unchecked: a batch gone NaN (an overflow under mixed precision)
        must not stop a training run (recog/guards.py deals with training steps)."""
        return [self.alphabet.decode(labels) for labels in best_path(log_probs, output_lengths)]

    def _loss(self, batch: dict, stage: str):
        log_probs, output_lengths = self(batch["images"], batch["widths"])
        result = ctc_loss(log_probs, batch["targets"], output_lengths, batch["target_lengths"],
                          implementation=self.loss_implementation)
        size = len(batch["ids"])
        self.log(f"{stage}/loss", result.loss, prog_bar=True, batch_size=size)
        self.log(f"{stage}/infeasible", float(result.num_infeasible), reduce_fx="sum", on_step=False,
                 on_epoch=True, batch_size=size)
        return result.loss, log_probs, output_lengths

    def _log_skipped(self, batch: dict, stage: str) -> None:
        """Unreadable samples of the epoch (dropped by collate_lines), summed over batches and processes."""
        self.log(f"{stage}/skipped", float(batch["num_skipped"]), reduce_fx="sum", on_step=False,
                 on_epoch=True, batch_size=max(len(batch["ids"]), 1), sync_dist=True)

    def training_step(self, batch: dict, batch_index: int):
        self._log_skipped(batch, "train")
        if not batch["ids"]:
            return None  # every image of the batch was unreadable; logged by the dataset
        loss, _, _ = self._loss(batch, "train")
        return loss

    def on_validation_epoch_start(self) -> None:
        self.val_counts = ErrorCounts()

    def validation_step(self, batch: dict, batch_index: int) -> None:
        self._log_skipped(batch, "val")
        if not batch["ids"]:
            return
        _, log_probs, output_lengths = self._loss(batch, "val")
        references = [self.metric_normalizer(text) for text in batch["texts"]]
        hypotheses = [self.metric_normalizer(text) for text in self.decode(log_probs, output_lengths)]
        self.val_counts += corpus_error_counts(references, hypotheses)

    def on_validation_epoch_end(self) -> None:
        """Corpus CER/WER: error counts are summed over batches (and processes) before dividing."""
        totals = torch.tensor(self.val_counts.as_list(), dtype=torch.float64, device=self.device)
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        counts = ErrorCounts(*(int(v) for v in totals.tolist()))
        self.log("val/cer", counts.cer, prog_bar=True)
        self.log("val/wer", counts.wer, prog_bar=True)

    def configure_optimizers(self):
        return adamw_with_schedule(self.parameters(), self.hparams.optimizer, self.hparams.scheduler,
                                   int(self.trainer.estimated_stepping_batches))

    def initialise_from(self, pretrained: "CTCRecognitionModule") -> None:
        """Fine-tuning: copy a trained model's weights; its alphabet must be a prefix of ours."""
        old_symbols = pretrained.alphabet.symbols
        if self.alphabet.symbols[: len(old_symbols)] != old_symbols:
            raise ValueError("the pretrained alphabet must be a prefix of the new one (extend, never reorder)")
        pretrained.model.resize_classes(self.alphabet.num_classes)
        self.model.load_state_dict(pretrained.model.state_dict())
        log.info("initialised from a pretrained model; alphabet %d -> %d symbols", len(old_symbols),
                 len(self.alphabet))
