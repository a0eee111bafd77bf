import torch
from torch.utils.data import DataLoader

from datamodules.batching import LengthBucketBatchSampler, collate_lines


def test_every_index_once_and_similar_lengths_together():
    widths = [(i * 37) % 101 for i in range(100)]
    sampler = LengthBucketBatchSampler(widths, batch_size=8, shuffle=True, seed=1, pool_batches=4)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 13
    indices = [index for batch in batches for index, _ in batch]
    assert sorted(indices) == list(range(100))
    for batch in batches:
        batch_widths = [widths[i] for i, _ in batch]
        assert batch_widths == sorted(batch_widths)


def test_order_depends_on_epoch_and_is_reproducible():
    sampler = LengthBucketBatchSampler(list(range(64)), batch_size=8, shuffle=True, seed=0)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and {e for batch in second for _, e in batch} == {1}


def test_lightning_reaches_set_epoch():
    from lightning_fabric.utilities.data import _set_sampler_epoch

    sampler = LengthBucketBatchSampler(list(range(10)), batch_size=4, shuffle=True)
    loader = DataLoader(list(range(10)), batch_sampler=sampler, collate_fn=lambda items: items)
    _set_sampler_epoch(loader, 5)
    assert sampler.epoch == 5


def test_collate_pads_with_paper_and_keeps_true_widths():
    items = [
        {"id": "a", "text": "ab", "image": torch.ones(1, 4, 3), "target": torch.tensor([1, 2])},
        None,  # an unreadable sample
        {"id": "b", "text": "c", "image": torch.ones(1, 4, 5), "target": torch.tensor([3])},
    ]
    batch = collate_lines(items)
    assert batch["ids"] == ["a", "b"] and batch["num_skipped"] == 1
    assert batch["images"].shape == (2, 1, 4, 5)
    assert batch["widths"].tolist() == [3, 5]
    assert batch["images"][0, :, :, 3:].abs().sum() == 0
    assert batch["targets"].tolist() == [[1, 2], [3, 0]] and batch["target_lengths"].tolist() == [2, 1]


def test_budget_cuts_before_the_padded_size_passes_it():
    lengths = [10, 30, 20, 40, 10, 50]
    sampler = LengthBucketBatchSampler(lengths, batch_size=4, shuffle=False, max_total_length=60)
    # sorted: 0 (10), 4 (10), 2 (20), 1 (30), 3 (40), 5 (50); [0, 4, 2] pads to 3 x 20 = 60
    assert [[index for index, _ in batch] for batch in sampler] == [[0, 4, 2], [1], [3], [5]]
    assert len(sampler) == 4


def test_budget_and_batch_size_both_cut():
    sampler = LengthBucketBatchSampler([5] * 7, batch_size=3, shuffle=False, max_total_length=10)
    assert [[index for index, _ in batch] for batch in sampler] == [[0, 1], [2, 3], [4, 5], [6]]
    sampler = LengthBucketBatchSampler([5] * 7, batch_size=3, shuffle=False, max_total_length=100)
    assert [[index for index, _ in batch] for batch in sampler] == [[0, 1, 2], [3, 4, 5], [6]]


def test_an_item_longer_than_the_budget_is_a_batch_of_its_own():
    sampler = LengthBucketBatchSampler([100, 3, 4], batch_size=8, shuffle=False, max_total_length=10)
    assert [[index for index, _ in batch] for batch in sampler] == [[1, 2], [0]]


def test_budget_holds_with_shuffling_and_every_index_once():
    lengths = [(i * 37) % 101 + 1 for i in range(200)]
    sampler = LengthBucketBatchSampler(lengths, batch_size=16, shuffle=True, seed=3, pool_batches=4,
                                       max_total_length=400)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(index for batch in batches for index, _ in batch) == list(range(200))
    for batch in batches:
        assert len(batch) <= 16 and len(batch) * max(lengths[i] for i, _ in batch) <= 400


def indices(batches) -> list[list[int]]:
    return [[index for index, _ in batch] for batch in batches]


def test_evaluation_shards_deal_out_each_item_once():
    """Case B24: 5 utterances on 2 processes are split 3 + 2, never padded to 3 + 3."""
    lengths = [50, 10, 40, 20, 30]  # by length: 1, 3, 4, 2, 0
    shards = [indices(LengthBucketBatchSampler(lengths, batch_size=2, shuffle=False, num_replicas=2, rank=rank))
              for rank in (0, 1)]
    assert shards == [[[1, 4], [0]], [[3, 2]]]


def test_training_shards_take_the_same_number_of_batches():
    """7 batches on 2 processes: 4 each, the 8th wrapping around to the first; together every batch."""
    lengths = [(i * 37) % 101 for i in range(50)]
    whole = LengthBucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=2)
    shards = [LengthBucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=2, num_replicas=2, rank=rank)
              for rank in (0, 1)]
    batches = whole.batches()
    assert len(batches) == 7 and [len(shard) for shard in shards] == [4, 4]
    assert indices(shards[0]) == batches[0::2] and indices(shards[1]) == batches[1::2] + [batches[0]]


def test_a_resumed_sampler_goes_on_at_the_next_batch_of_the_same_epoch():
    lengths = [(i * 37) % 101 for i in range(40)]
    uninterrupted = LengthBucketBatchSampler(lengths, batch_size=4, shuffle=True, seed=5)
    uninterrupted.set_epoch(3)
    expected = list(uninterrupted)
    resumed = LengthBucketBatchSampler(lengths, batch_size=4, shuffle=True, seed=5)
    resumed.resume_at = (3, 4)
    resumed.set_epoch(3)
    assert list(resumed) == expected[4:] and len(expected) == 10
    assert list(resumed) == expected  # the skip applies once; the next pass is a whole epoch again


def test_a_resume_position_applies_to_its_own_epoch_only():
    """A checkpoint written at an epoch's end resumes into the next epoch, which must not be cut."""
    resumed = LengthBucketBatchSampler(list(range(40)), batch_size=4, shuffle=True, seed=5)
    resumed.resume_at = (2, 10)
    resumed.set_epoch(3)
    assert len(list(resumed)) == 10
