"""ARC augmentation plans and the token encoding of augmented puzzles, vectorised per puzzle.

Encoding (the original's): a grid sits in a 30 x 30 canvas read row-major (seq_len 900). Token 0 is
padding, token 1 the end-of-grid marker (EOS) drawn along the grid's right and bottom edges (not on the
corner, and not when the grid touches the canvas edge), tokens 2-11 the colours 0-9 (vocab 12).

Augmentation (the original's): each augmented copy of a puzzle recolours every grid with one colour map
(1-9 permuted, black fixed), then applies one dihedral transform. Copies identical to one already kept
(including the original) are rejected, trying at most 5 candidates per wanted copy. In the train split
every example is also moved to a random offset inside the canvas, except one example per puzzle copy.

Speed: a puzzle's augmentations are all produced by two gathers over a [copies, 900] index array, one
that picks cells out of a padded template (the dihedral transform and the translation in one step) and
one that maps template values to tokens (the colour map). Duplicate copies are found without building
them, from a 64-bit fingerprint that is linear in the grid values (see `plan_augmentations`).
"""

from __future__ import annotations

import numpy as np

from hrm_core.data.augment import NUM_DIHEDRAL, dihedral_transform, random_colour_maps

GRID_SIDE = 30
SEQ_LEN = GRID_SIDE * GRID_SIDE
PAD_TOKEN = 0
EOS_TOKEN = 1
COLOUR_OFFSET = 2
VOCAB_SIZE = 12
AUGMENT_RETRIES_FACTOR = 5

# Template values before the colour map: colours 0-9 as themselves, then these two.
_TEMPLATE_EOS = 10
_TEMPLATE_PAD = 11
_TEMPLATE_VALUES = 12
# Templates sit in the bottom-right quarter of a 2*30-wide canvas of padding, so that a 30 x 30 window
# whose top-left corner is (30 - r, 30 - c) shows the grid translated by (r, c).
_BIG = 2 * GRID_SIDE
_WINDOW = (np.arange(GRID_SIDE)[:, None] * _BIG + np.arange(GRID_SIDE)[None, :]).reshape(-1)  # [900]



def _fingerprint_weights(size: int) -> np.ndarray:
    """Random uint64 weights of the duplicate fingerprint; a fixed seed, so a puzzle always dedupes alike."""
    return np.random.default_rng(0x0A2C).integers(0, np.iinfo(np.uint64).max, size=size, dtype=np.uint64, endpoint=True)


def _transformed_shape(shape: tuple[int, int], transform_id: int) -> tuple[int, int]:
    """Shape of a grid after transform `transform_id`: rotations by 90/270 degrees and the diagonal
    reflections (ids 1, 3, 6, 7) swap rows and columns."""
    return (shape[1], shape[0]) if transform_id in (1, 3, 6, 7) else shape


def _padded_variants(grids: list[np.ndarray]) -> np.ndarray:
    """[8, len(grids) * 900] uint8: each grid under each transform, top-left in a 30x30 canvas of 10s.

    Used only for the fingerprint: 10 marks cells outside the grid, so a grid's shape is part of it.
    """
    variants = np.full((NUM_DIHEDRAL, len(grids), GRID_SIDE, GRID_SIDE), _TEMPLATE_EOS, dtype=np.uint8)
    for t in range(NUM_DIHEDRAL):
        for i, grid in enumerate(grids):
            transformed = dihedral_transform(grid, t)
            variants[t, i, : transformed.shape[0], : transformed.shape[1]] = transformed
    return variants.reshape(NUM_DIHEDRAL, -1)


def plan_augmentations(grids: list[np.ndarray], num_aug: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The kept augmentations of a puzzle whose grids (all inputs and outputs) are `grids`.

    Returns (transform_ids [A] int, colour_maps [A, 10] uint8) with A <= num_aug + 1; row 0 is the
    identity (the original puzzle). Candidates are drawn as the original draws them (5 per wanted copy)
    and kept in order when their result differs from every copy kept before.

    Duplicates: a copy's grids are colour_map[variant_t], so with random weights w the fingerprint
    sum(w * copy) equals sum over colours c of colour_map[c] * S_t[c], where S_t[c] sums the weights of
    the cells of colour c in variant t. One [8, 11] table per puzzle gives every candidate's fingerprint;
    two different copies collide with probability about 2^-61.
    """
    variants = _padded_variants(grids)  # [8, N]
    weights = _fingerprint_weights(variants.shape[1])
    one_hot = variants[:, :, None] == np.arange(_TEMPLATE_EOS + 1, dtype=np.uint8)  # [8, N, 11]
    colour_sums = (one_hot * weights[None, :, None]).sum(axis=1, dtype=np.uint64)  # [8, 11], wrapping mod 2^64

    num_candidates = AUGMENT_RETRIES_FACTOR * num_aug
    transforms = np.concatenate([[0], rng.integers(0, NUM_DIHEDRAL, size=num_candidates)])
    colour_maps = np.concatenate([np.arange(10, dtype=np.uint8)[None], random_colour_maps(rng, num_candidates)])
    # Outside cells (value 10) stay 10 under every colour map.
    extended = np.concatenate([colour_maps, np.full((len(colour_maps), 1), _TEMPLATE_EOS, dtype=np.uint8)], axis=1)
    fingerprints = (extended.astype(np.uint64) * colour_sums[transforms]).sum(axis=1, dtype=np.uint64)

    _, first_seen = np.unique(fingerprints, return_index=True)
    kept = np.sort(first_seen)[: num_aug + 1]
    return transforms[kept], colour_maps[kept]


def _big_templates(grid: np.ndarray) -> np.ndarray:
    """[8 * 60 * 60] uint8: the grid under each transform, with EOS edges, in a padded 60x60 canvas."""
    big = np.full((NUM_DIHEDRAL, _BIG, _BIG), _TEMPLATE_PAD, dtype=np.uint8)
    for t in range(NUM_DIHEDRAL):
        transformed = dihedral_transform(grid, t)
        rows, cols = transformed.shape
        canvas = big[t, GRID_SIDE:, GRID_SIDE:]
        canvas[:rows, :cols] = transformed
        if rows < GRID_SIDE:
            canvas[rows, :cols] = _TEMPLATE_EOS
        if cols < GRID_SIDE:
            canvas[:rows, cols] = _TEMPLATE_EOS
    return big.reshape(-1)


def _token_tables(colour_maps: np.ndarray) -> np.ndarray:
    """[A * 12] uint8: per copy, template value -> token (colour c -> map[c] + 2, EOS -> 1, PAD -> 0)."""
    tables = np.empty((len(colour_maps), _TEMPLATE_VALUES), dtype=np.uint8)
    tables[:, :10] = colour_maps + COLOUR_OFFSET
    tables[:, _TEMPLATE_EOS] = EOS_TOKEN
    tables[:, _TEMPLATE_PAD] = PAD_TOKEN
    return tables.reshape(-1)


def encode_pairs(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    transforms: np.ndarray,
    colour_maps: np.ndarray,
    *,
    translate: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences of every copy of `pairs`: (inputs, labels), each [A * len(pairs), 900] uint8.

    Rows are copy-major (copy 0's pairs first). With `translate`, each copy moves each pair (input and
    output together) to a random offset where both fit, except one random pair per copy, which stays at
    the top-left as in the original.
    """
    num_copies, num_pairs = len(transforms), len(pairs)
    tables = _token_tables(colour_maps)
    table_rows = (np.arange(num_copies) * _TEMPLATE_VALUES)[:, None]  # [A, 1]
    inputs = np.empty((num_copies, num_pairs, SEQ_LEN), dtype=np.uint8)
    labels = np.empty_like(inputs)

    keep_in_place = rng.integers(0, num_pairs, size=num_copies) if translate else None
    for p, (input_grid, output_grid) in enumerate(pairs):
        rows_cols = np.array([_transformed_shape((max(input_grid.shape[0], output_grid.shape[0]), max(input_grid.shape[1], output_grid.shape[1])), t) for t in range(NUM_DIHEDRAL)])
        if translate:
            extent = rows_cols[transforms]  # [A, 2] rows and columns the pair needs
            offsets = rng.integers(0, GRID_SIDE - extent + 1)  # [A, 2]
            offsets[keep_in_place == p] = 0
        else:
            offsets = np.zeros((num_copies, 2), dtype=np.int64)
        # Window start in the big canvas: template t, row 30 - r, column 30 - c.
        starts = transforms * (_BIG * _BIG) + (GRID_SIDE - offsets[:, 0]) * _BIG + (GRID_SIDE - offsets[:, 1])
        cells = starts[:, None] + _WINDOW[None, :]  # [A, 900]
        for grid, out in ((input_grid, inputs), (output_grid, labels)):
            template_values = _big_templates(grid)[cells]  # [A, 900] values 0-11
            out[:, p] = tables[template_values + table_rows]
    return inputs.reshape(-1, SEQ_LEN), labels.reshape(-1, SEQ_LEN)
