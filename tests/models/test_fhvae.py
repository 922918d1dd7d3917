"""FHVAE: shapes, the objective's terms by hand, the closed-form s-vector, hierarchical
sampling, config errors, and a toy speaker task it must learn."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from helpers import cut_utterances, toy_speech

from unweave.errors import UnweaveError
from unweave.metrics.verification import verification_eer
from unweave.models.fhvae import FHVAE, FHVAEConfig

SMALL = {"n_features": 3, "segment": 5, "rnn_size": 8, "z1_dim": 2, "z2_dim": 2, "n_sequences": 3}


def fhvae(**settings) -> FHVAE:
    torch.manual_seed(0)
    return FHVAE(FHVAEConfig.from_dict({**SMALL, **settings}))


def segments(batch: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 5, 3, generator=torch.Generator().manual_seed(seed))


def pin_z2_encoder(model: FHVAE, mean: list[float], var: float) -> None:
    """Make q(z2|x) = N(mean, var I) for every input (zero weights, set biases)."""
    with torch.no_grad():
        for linear, bias in ((model.z2_head.mean, mean), (model.z2_head.logvar, None)):
            linear.weight.zero_()
            linear.bias.copy_(torch.tensor(bias) if bias else torch.full((2,), math.log(var)))


def test_shapes_of_codes_reconstructions_swaps_samples_and_embeddings() -> None:
    model = fhvae()
    x = segments()
    latents = model.encode(x)
    assert latents.static.mean.shape == (4, 2)
    assert latents.dynamic.mean.shape == (4, 1, 2)  # one z1 per segment
    assert model.decode(latents.static.mean, latents.dynamic.mean).shape == (4, 5, 3)
    assert model.decode(latents.static.mean, latents.dynamic.mean[:, 0]).shape == (4, 5, 3)
    assert model.swap(x, x.flip(0)).shape == (4, 5, 3)
    assert model.sample_static(6).shape == (6, 2)
    assert model.sample_dynamic(6).shape == (6, 1, 2)
    utterance = torch.tensor([9, 4, 9, 4])
    assert model.utterance_embeddings(x, utterance).shape == (2, 2)
    assert model.mean_z1_per_utterance(x, utterance).shape == (2, 2)
    batch = {"x": x.double(), "mask": torch.ones(4, 5, 3, dtype=torch.bool), "sequence": utterance}
    x_in, sequence = model.batch_inputs(batch)
    assert x_in.dtype == torch.float32 and sequence.dtype == torch.int64


def test_swap_keeps_z2_of_the_first_and_z1_of_the_second() -> None:
    model = fhvae()
    a, b = segments(seed=1), segments(seed=2)
    expected = model.decode(model.encode(a).static.mean, model.encode(b).dynamic.mean)
    assert torch.allclose(model.swap(a, b), expected)


def test_paper_sizes() -> None:
    """lstm_1L_256_lat_32_32 on 80 FBank bins, counted by hand (PyTorch LSTMs carry two bias
    vectors, TF one): q(z2) LSTM 4*256*(80+256) + 8*256 = 346,112 and heads 2*(256*32+32) =
    16,448; q(z1) LSTM (input 80+32) 378,880 and heads 16,448; decoder LSTM (input 32+32)
    329,728 and heads 2*(256*80+80) = 41,120; the mu2 table 3,696 x 32."""
    model = FHVAE(FHVAEConfig.from_dict({}))
    assert sum(p.numel() for p in model.parameters()) == 1_128_736 + 3696 * 32
    two = FHVAE(FHVAEConfig.from_dict({"rnn_layers": 2}))  # ScalableFHVAE: h of both layers
    assert two.z2_head.mean.in_features == 512 and two.z1_head.mean.in_features == 512
    assert two.decoder_head.mean.in_features == 256


def test_lstms_start_as_tensorflow_cells_with_forget_bias_one() -> None:
    model = fhvae()
    bias = model.z1_rnn.bias_ih_l0 + model.z1_rnn.bias_hh_l0
    assert bias.tolist() == [0.0] * 8 + [1.0] * 8 + [0.0] * 16  # gates i, f, g, o
    limit = math.sqrt(6 / (3 + 2 + 8 + 4 * 8))  # kernel [x + z2 + hidden, 4 * hidden]
    assert model.z1_rnn.weight_ih_l0.abs().max() <= limit
    assert model.z2_head.mean.bias.abs().sum() == 0


def test_loss_is_finite_and_adds_its_documented_terms() -> None:
    model = fhvae(alpha=3.0)
    model.set_sequence_lengths(torch.tensor([4, 4, 4]))
    torch.manual_seed(0)
    terms = model.loss(segments(), torch.tensor([0, 2, 1, 2]))
    assert set(terms) == {"loss", "nll", "kl_z1", "kl_z2", "log_p_mu2", "discriminative", "mse"}
    assert all(torch.isfinite(v) for v in terms.values())
    expected = (
        terms["nll"]
        + terms["kl_z1"]
        + terms["kl_z2"]
        - terms["log_p_mu2"] / 4
        + 3.0 * terms["discriminative"]
    )
    assert torch.allclose(terms["loss"], expected)
    terms["loss"].backward()
    assert model.mu2_table.grad.abs().sum(1).gt(0).all()  # every row is a softmax prototype


def test_prior_terms_and_discriminative_term_by_hand() -> None:
    """q(z2|x) = N((1, 0), 0.25 I); table rows (1, 0), (-1, 0), (0, 1); segments of sequences
    0 and 2. Logits -||m - mu2_j||^2 / (2 * 0.25) = (0, -8, -4)."""
    model = fhvae()
    model.set_sequence_lengths(torch.tensor([5, 5, 5]))
    pin_z2_encoder(model, [1.0, 0.0], 0.25)
    with torch.no_grad():
        model.mu2_table.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]))
    terms = model.loss(segments(batch=2), torch.tensor([0, 2]))
    log_z = math.log(1 + math.exp(-8) + math.exp(-4))
    assert terms["discriminative"].item() == pytest.approx(
        ((0 + log_z) + (4 + log_z)) / 2, rel=1e-5
    )
    # KL(N(m, .25) || N(mu2, .25)) = ||m - mu2||^2 / (2 * .25): 0 for row 0, 4 for row 2.
    assert terms["kl_z2"].item() == pytest.approx(2.0, abs=1e-5)
    assert terms["log_p_mu2"].item() == pytest.approx(-math.log(2 * math.pi) - 0.5, rel=1e-6)


def test_the_s_vector_is_the_closed_form_map_estimate() -> None:
    """mu2* = sum_n mean q(z2|x_n) / (N + z2_prior_var / 1): with every z2 mean (1, -2), one
    segment gives (1, -2) / 1.25 and three give 3 (1, -2) / 3.25; rows in sorted id order."""
    model = fhvae()
    pin_z2_encoder(model, [1.0, -2.0], 0.5)
    got = model.utterance_embeddings(segments(), torch.tensor([7, 7, 3, 7]))
    assert torch.allclose(got, torch.tensor([[1 / 1.25, -2 / 1.25], [3 / 3.25, -6 / 3.25]]))
    wide = fhvae(z2_prior_var=1.0)
    pin_z2_encoder(wide, [1.0, -2.0], 0.5)
    got = wide.utterance_embeddings(segments(), torch.tensor([7, 7, 3, 7]), batch_size=3)
    assert torch.allclose(got[1], torch.tensor([3 / 4, -6 / 4]))


def test_embeddings_match_the_posterior_means_of_encode() -> None:
    model = fhvae()
    x, utterance = segments(batch=5), torch.tensor([1, 0, 1, 1, 0])
    latents = model.encode(x)
    z2, z1 = latents.static.mean, latents.dynamic.mean[:, 0]
    s_vectors = model.utterance_embeddings(x, utterance, batch_size=2)
    assert torch.allclose(s_vectors[0], z2[[1, 4]].sum(0) / 2.25, atol=1e-6)
    assert torch.allclose(s_vectors[1], z2[[0, 2, 3]].sum(0) / 3.25, atol=1e-6)
    mu1 = model.mean_z1_per_utterance(x, utterance, batch_size=2)
    assert torch.allclose(mu1[1], z1[[0, 2, 3]].mean(0), atol=1e-6)


def test_sequence_lengths_and_indices_are_checked() -> None:
    model = fhvae()
    with pytest.raises(UnweaveError, match="set_sequence_lengths"):
        model.loss(segments(batch=2), torch.tensor([0, 1]))
    with pytest.raises(UnweaveError, match=r"expected \(3,\)"):
        model.set_sequence_lengths(torch.tensor([4, 4]))
    with pytest.raises(UnweaveError, match="at least 1"):
        model.set_sequence_lengths(torch.tensor([4, 0, 4]))
    model.set_sequence_lengths(torch.tensor([4, 4, 4]))
    with pytest.raises(UnweaveError, match=r"0\.\.2"):
        model.loss(segments(batch=2), torch.tensor([0, 3]))
    with pytest.raises(UnweaveError, match="one integer sequence index"):
        model.loss(segments(batch=2), torch.tensor([0.0, 1.0]))


def test_inputs_are_checked() -> None:
    model = fhvae()
    with pytest.raises(UnweaveError, match=r"\(B, 5, 3\)"):
        model.encode(torch.zeros(2, 6, 3))
    mask = torch.ones(4, 5, 3, dtype=torch.bool)
    mask[0, 0, 0] = False
    with pytest.raises(UnweaveError, match="fully observed"):
        model.encode(segments(), mask)


def test_hierarchical_sampling_maps_sequences_to_the_blocks_rows() -> None:
    model = fhvae(n_sequences=5, n_mu2=2)
    model.set_sequence_lengths(torch.tensor([3, 3, 3, 3, 3]))
    assert model.mu2_table.shape == (2, 2)
    with pytest.raises(UnweaveError, match="current block"):
        model.loss(segments(batch=2), torch.tensor([0, 1]))
    pin_z2_encoder(model, [1.0, 0.0], 0.25)
    model.load_block(torch.tensor([4, 1]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert model.table_rows.tolist() == [-1, 1, -1, -1, 0]
    terms = model.loss(segments(batch=2), torch.tensor([1, 1]))
    # softmax over the block's two rows only: logits (-4, 0) for the true row 1.
    assert terms["discriminative"].item() == pytest.approx(math.log(1 + math.exp(-4)), rel=1e-5)
    with pytest.raises(UnweaveError, match="current block"):
        model.loss(segments(batch=2), torch.tensor([1, 2]))
    with pytest.raises(UnweaveError, match="2 distinct sequence indices"):
        model.load_block(torch.tensor([1, 1]), torch.zeros(2, 2))
    with pytest.raises(UnweaveError, match=r"expected \(2, 2\)"):
        model.load_block(torch.tensor([0, 1]), torch.zeros(3, 2))
    with pytest.raises(UnweaveError, match="n_mu2 is 0"):
        fhvae().load_block(torch.tensor([0, 1]), torch.zeros(2, 2))


def test_seg_rand_redraws_each_pass_and_sets_the_block_from_its_segments() -> None:
    """With seg_rand every epoch draws new starts (the same ones for the same seed and epoch),
    each block sequence keeps its stored segment count, and the block's mu2 comes from them."""
    data, _ = cut_utterances([9, 12, 15, 11], shift=2)  # 3, 4, 6, 4 segments of 5 frames
    data.x[..., 0] = 0.0  # feature 0 held the utterance index; keep only the frame ramp
    settings = {"n_features": 2, "n_sequences": 4, "n_mu2": 2, "seg_rand": True}
    model = fhvae(**settings)
    items, _ = model.training_items(data)
    first, again = model.training_rows(data, 0, 7), model.training_rows(data, 0, 7)
    assert first.tolist() == again.tolist()
    assert model.training_rows(data, 1, 7).tolist() != first.tolist()
    owners = np.array([int(items[int(i)]["sequence"]) for i in first])
    block = model.block_sequences(0, 7)
    assert set(owners) == set(block.tolist())
    assert np.bincount(owners, minlength=4)[block].tolist() == items.counts[block].tolist()
    model.start_epoch(data, 0, 7)
    x, sequence = items.segments(first)
    expected = model.utterance_embeddings(x, sequence)
    torch.testing.assert_close(model.mu2_table, expected)
    assert fhvae(**{**settings, "seg_rand": False}).training_items(data) is None


def test_table_diagnostics_tell_the_table_from_the_encoder() -> None:
    model = fhvae()
    model.set_sequence_lengths(torch.tensor([2, 1, 1]))
    pin_z2_encoder(model, [1.0, 0.0], 0.25)
    x, sequence = segments(), torch.tensor([0, 0, 1, 2])
    with torch.no_grad():
        model.mu2_table.zero_()
    figures = model.table_diagnostics(x, sequence)
    # Equal rows: every logit ties, the cross-entropy of a uniform guess over the 3 rows.
    assert figures["ce_table"] == pytest.approx(math.log(3)) == figures["ln_rows"]
    assert figures["table_std"] == 0
    # mu2*: (2, 0) / 2.25 for sequence 0, (1, 0) / 1.25 for 1 and 2 (which tie): by hand.
    star = torch.tensor([[2 / 2.25, 0.0], [0.8, 0.0], [0.8, 0.0]])
    logits = -(torch.tensor([1.0, 0.0]) - star).pow(2).sum(-1) / 0.5
    expected = -torch.log_softmax(logits, 0)[[0, 0, 1, 2]].mean()
    assert figures["ce_mu2_star"] == pytest.approx(float(expected), rel=1e-5)
    with torch.no_grad():
        model.mu2_table.copy_(star)
    again = model.table_diagnostics(x, sequence)
    assert again["ce_table"] == pytest.approx(again["ce_mu2_star"])
    other = fhvae()
    other.set_sequence_lengths(torch.tensor([2, 2, 2]))
    spread = other.table_diagnostics(torch.randn(6, 5, 3), torch.tensor([0, 0, 1, 1, 2, 2]))
    assert 0 < spread["z2_spread"] < float("inf")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"z_dims": 4}, r"Did you mean 'model.z\d_dim'"),
        ({"n_mu2": 4}, r"n_mu2 is 4; expected at most n_sequences \(3\)"),
        ({"z2_prior_var": 0}, "z2_prior_var is 0; expected a variance above 0"),
        ({"rnn_layers": 0}, "rnn_layers is 0; expected an integer >= 1"),
        ({"alpha": -1.0}, "alpha is -1.0; expected a number >= 0"),
        ({"segment": "20"}, "segment is '20'"),
        ({"n_sequences": True}, "n_sequences is True"),
    ],
)
def test_config_errors_are_one_clear_sentence(settings: dict, message: str) -> None:
    with pytest.raises(UnweaveError, match=message):
        FHVAEConfig.from_dict({**SMALL, **settings})


# ---------------------------------------------------------------------------- learning


def train_and_verify(n_mu2: int) -> tuple[float, float]:
    """Train a tiny FHVAE for 300 steps (batch 64, Adam betas (0.95, 0.999) as the reference,
    lr 3e-3 to be quick) on 32 one-utterance speakers x 16 segments, then verify 8 *unseen*
    speakers (3 utterances of 8 segments each). Returns the EERs of mu2* and of mean z1."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    phones = 1.5 * torch.randn(4, 10, 6, generator=g)
    x, sequence, _ = toy_speech(32, 1, 16, phones, g)
    x_test, utterance, speaker = toy_speech(8, 3, 8, phones, g)
    config = {"n_features": 6, "segment": 10, "rnn_size": 32, "z1_dim": 4, "z2_dim": 4}
    model = FHVAE(FHVAEConfig.from_dict({**config, "n_sequences": 32, "n_mu2": n_mu2}))
    model.set_sequence_lengths(torch.bincount(sequence, minlength=32))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.95, 0.999))
    for batch in batches(model, x, sequence, n_mu2, steps=300):
        optimiser.zero_grad()
        model.loss(x[batch], sequence[batch])["loss"].backward()
        optimiser.step()
    s_vectors = model.utterance_embeddings(x_test, utterance).numpy()
    mu1 = model.mean_z1_per_utterance(x_test, utterance).numpy()
    speaker = speaker.numpy()
    return verification_eer(s_vectors, speaker)["eer"], verification_eer(mu1, speaker)["eer"]


def batches(
    model: FHVAE, x: torch.Tensor, sequence: torch.Tensor, n_mu2: int, steps: int
) -> Iterator[torch.Tensor]:
    """Segment indices of ``steps`` batches of 64. With ``n_mu2``, hierarchical sampling as
    the FHVAE module describes: draw a block of sequences, load their closed-form mu2*, then
    one shuffled pass over the block's segments."""
    if not n_mu2:
        for _ in range(steps):
            yield torch.randint(0, len(x), (64,))
        return
    done = 0
    while done < steps:
        block = torch.randperm(model.config.n_sequences)[:n_mu2].sort().values
        inside = torch.isin(sequence, block).nonzero()[:, 0]
        model.load_block(block, model.utterance_embeddings(x[inside], sequence[inside]))
        for chunk in inside[torch.randperm(len(inside))].split(64):
            yield chunk
            done += 1


@pytest.mark.parametrize("n_mu2", [0, 8], ids=["full-table", "hierarchical-sampling"])
def test_a_tiny_fhvae_puts_the_speaker_in_z2_and_not_in_z1(one_thread: None, n_mu2: int) -> None:
    """Unseen speakers verify by their s-vectors (EER < 0.15) while the mean z1 stays far from
    that (EER > 0.25; 0.5 is chance). Seeds 0-9 gave s-vector EERs 0-0.11 (full table) and
    0-0.04 (blocks of 8), and mean-z1 EERs 0.27-0.58; a few seconds on one CPU thread."""
    eer_z2, eer_z1 = train_and_verify(n_mu2)
    assert eer_z2 < 0.15
    assert eer_z1 > 0.25
