"""Dropout-tolerant secure aggregation: the aggregator learns the sum of updates, nothing else.

This follows SecAgg (Bonawitz et al., 2017, "Practical Secure Aggregation for
Privacy-Preserving Machine Learning") with the sparse neighbourhoods of SecAgg+ (Bell et al.,
2020, "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead"), for an honest but
curious aggregator. One round, for the sites sampled at one aggregation point:

1. *Advertise keys.* Each site makes two X25519 key pairs: one to encrypt the shares it sends
   its neighbours, one (derived from a 16-byte *mask seed*) to agree a pairwise mask with each.
2. *Share keys.* Each site draws a 16-byte *self seed*, splits the self seed and the mask seed
   into Shamir shares (``threshold`` of them reconstruct either) and sends one of each to
   every neighbour, sealed with AES-GCM under a key only the two of them can derive.
3. *Masked input.* Each site quantizes its clipped update to integers mod 2^32 (see
   :mod:`smartfed.privacy.quantize`) and adds the expansion of its self seed and, for every
   neighbour that shared keys, the pairwise mask: added by the site whose name sorts first,
   subtracted by the other, so the pairwise masks cancel in the sum.
4. *Unmasking.* The aggregator names the sites whose masked update arrived (survivors) and
   those that shared keys but never uploaded (dropped). Each responding site reveals, per
   neighbour, the share of the self seed of a survivor or of the mask seed of a dropped site,
   never both for the same site. The aggregator rebuilds those seeds, strips the self masks of
   all survivors and the pairwise masks survivors shared with dropped sites, and reads the sum.

A survivor that vanishes after uploading (the ``--dropout`` case) costs nothing but its share
answers: its update stays in the sum and its self seed is rebuilt from its neighbours' shares.
The round fails with :class:`SecureAggregationError` when fewer than ``threshold`` sites are
left at any step, or a site has fewer than ``threshold`` neighbours left to answer for it.

Not covered: an actively malicious aggregator (the paper's signatures and consistency check
round are not implemented), and sites that lie about their shares.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass

import numpy as np
from Crypto.Protocol.SecretSharing import Shamir
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smartfed.privacy.masking import (
    KEY_BYTES,
    SEED_BYTES,
    agree,
    derive_private_key,
    expand_mask,
    new_private_key,
    public_bytes,
)
from smartfed.privacy.messages import (
    MASK_SEED,
    SELF_SEED,
    EncryptedShare,
    KeyAdvert,
    RevealedShare,
    SecureAggregationError,
)
from smartfed.privacy.neighbours import neighbourhoods
from smartfed.privacy.quantize import Quantizer
from smartfed.strategies.base import Strategy

log = logging.getLogger(__name__)

# Beyond this many sites the complete graph of the original protocol is replaced by SecAgg+
# neighbourhoods of this size. Rebuilding one seed costs threshold² field operations in
# pycryptodome, and every survivor's self seed is rebuilt each round, so the neighbourhood is
# what keeps unmasking 100 sites under a second.
DEFAULT_MAX_NEIGHBOURS = 40
_SHARE_BYTES = 2 + 2 * SEED_BYTES
_NONCE_BYTES = 12


@dataclass(frozen=True)
class SecAggConfig:
    """How a federation runs secure aggregation.

    ``clip_range``: every coordinate of an update is clipped to ``[-clip_range, clip_range]``
    before quantization; weight deltas of the detectors stay well inside 8.
    ``neighbours``: neighbourhood size per site; ``None`` means every other site up to
    ``DEFAULT_MAX_NEIGHBOURS``.
    ``threshold``: shares needed to rebuild a seed, and the fewest sites a round may keep.
    ``None`` means ``2 * degree // 5 + 1``: SecAgg+ puts the threshold between the fraction of
    a neighbourhood that may collude with the aggregator and the fraction that stays online.
    This default lets up to 40% of a site's neighbours collude without learning its update,
    and makes a round of 100 sites with 40 neighbours each survive 30% dropout except with
    probability about 1e-5 (a site left with fewer than 17 responding neighbours).
    """

    clip_range: float = 8.0
    neighbours: int | None = None
    threshold: int | None = None


class SecAggRound:
    """The public parameters of one round at one aggregation point; sites and aggregator agree."""

    def __init__(
        self, federation: str, round: int, sites: list[str], length: int, config: SecAggConfig
    ) -> None:
        self.sites = tuple(sorted(sites))
        if len(self.sites) < 2 or len(set(self.sites)) != len(self.sites):
            raise SecureAggregationError(
                f"secure aggregation needs at least 2 distinct sites; got {list(sites)}: "
                "the sum of one site is that site's update"
            )
        if config.neighbours is not None and config.neighbours < 1:
            raise SecureAggregationError(
                f"neighbourhood size is {config.neighbours}; it must be at least 1"
            )
        self.round = round
        self.length = length
        self.context = hashlib.sha256(
            json.dumps([federation, round, length, self.sites]).encode()
        ).digest()
        wanted = config.neighbours if config.neighbours is not None else DEFAULT_MAX_NEIGHBOURS
        self.graph = neighbourhoods(self.sites, min(wanted, len(self.sites) - 1), self.context)
        self.degree = min(len(linked) for linked in self.graph.values())
        self.threshold = (
            config.threshold if config.threshold is not None else 2 * self.degree // 5 + 1
        )
        if not 1 <= self.threshold <= self.degree:
            raise SecureAggregationError(
                f"threshold is {self.threshold} but each site has {self.degree} neighbours; "
                f"choose a threshold between 1 and {self.degree}, or more neighbours"
            )
        self.quantizer = Quantizer(config.clip_range, len(self.sites))

    def pair_info(self, purpose: bytes, a: str, b: str) -> bytes:
        first, second = sorted((a, b))
        return b"|".join(
            (b"smartfed-secagg", purpose, self.context, first.encode(), second.encode())
        )


class SecAggClient:
    """One site's side of a round; its secrets never leave this object except as sealed shares."""

    def __init__(self, site: str, setup: SecAggRound) -> None:
        if site not in setup.graph:
            raise SecureAggregationError(
                f"site {site} is not among the round's sites {list(setup.sites)}"
            )
        self.site = site
        self._setup = setup
        self._neighbours = setup.graph[site]
        self._cipher_key = new_private_key()
        self._mask_seed = os.urandom(SEED_BYTES)
        self._mask_key = derive_private_key(self._mask_seed)
        self._self_seed = os.urandom(SEED_BYTES)
        self._peers: dict[str, KeyAdvert] = {}
        self._held: dict[str, tuple[int, bytes, bytes]] = {}
        self._revealed = False

    def advertise(self) -> KeyAdvert:
        return KeyAdvert(self.site, public_bytes(self._cipher_key), public_bytes(self._mask_key))

    def share_keys(self, adverts: list[KeyAdvert]) -> list[EncryptedShare]:
        """Shares of both seeds for each neighbour whose keys the aggregator forwarded."""
        for advert in adverts:
            if advert.site not in self._neighbours or advert.site in self._peers:
                raise SecureAggregationError(
                    f"{self.site}: got keys of {advert.site}, which is not a neighbour or came "
                    "twice"
                )
            self._peers[advert.site] = advert
        self._require(len(self._peers), "neighbours advertised keys")
        receivers = [site for site in self._neighbours if site in self._peers]
        threshold = self._setup.threshold
        self_shares = Shamir.split(threshold, len(receivers), self._self_seed)
        mask_shares = Shamir.split(threshold, len(receivers), self._mask_seed)
        sealed = []
        for receiver, (index, self_share), (_, mask_share) in zip(
            receivers, self_shares, mask_shares, strict=True
        ):
            plaintext = index.to_bytes(2, "big") + self_share + mask_share
            nonce = os.urandom(_NONCE_BYTES)
            ciphertext = self._channel(receiver).encrypt(
                nonce, plaintext, self._sealing_data(self.site, receiver)
            )
            sealed.append(EncryptedShare(self.site, receiver, nonce + ciphertext))
        return sealed

    def masked_input(self, update: np.ndarray, shares: list[EncryptedShare]) -> np.ndarray:
        """The update quantized and masked (uint32), after storing the neighbours' shares."""
        if update.shape != (self._setup.length,):
            raise SecureAggregationError(
                f"{self.site}: update has shape {update.shape}; the round expects "
                f"({self._setup.length},)"
            )
        for sealed in shares:
            self._store_share(sealed)
        masked = self._setup.quantizer.quantize(update) + expand_mask(
            self._self_seed, self._setup.length
        )

        # Pairwise masks with every neighbour that shared keys: those neighbours mask with us too.
        for peer in self._held:
            mask = expand_mask(self._pairwise_seed(peer), self._setup.length)
            masked = masked + mask if self.site < peer else masked - mask
        return masked

    def unmask(self, survivors: list[str], dropped: list[str]) -> list[RevealedShare]:
        """Per neighbour, the share the aggregator may have: self seed if it uploaded, else mask."""
        alive, gone = set(survivors), set(dropped)
        if alive & gone:
            raise SecureAggregationError(
                f"{self.site}: the aggregator lists {sorted(alive & gone)} as both uploaded and "
                "dropped; "
                "revealing both shares would expose their updates, so this site refuses"
            )
        if self._revealed:
            raise SecureAggregationError(
                f"{self.site}: shares were already revealed for this round; refusing a second "
                "request"
            )
        self._require(len(alive), "sites uploaded masked updates")
        self._revealed = True
        revealed = []
        for owner, (index, self_share, mask_share) in self._held.items():
            if owner in alive:
                revealed.append(RevealedShare(self.site, owner, SELF_SEED, index, self_share))
            elif owner in gone:
                revealed.append(RevealedShare(self.site, owner, MASK_SEED, index, mask_share))
        return revealed

    def _store_share(self, sealed: EncryptedShare) -> None:
        if (
            sealed.receiver != self.site
            or sealed.sender not in self._peers
            or sealed.sender in self._held
        ):
            raise SecureAggregationError(
                f"{self.site}: refusing a share from {sealed.sender} for {sealed.receiver}; "
                "shares must come once from a neighbour whose keys arrived"
            )
        nonce, ciphertext = sealed.ciphertext[:_NONCE_BYTES], sealed.ciphertext[_NONCE_BYTES:]
        try:
            plaintext = self._channel(sealed.sender).decrypt(
                nonce, ciphertext, self._sealing_data(sealed.sender, self.site)
            )
        except InvalidTag:
            raise SecureAggregationError(
                f"{self.site}: the share from {sealed.sender} does not authenticate; it was altered"
            ) from None
        if len(plaintext) != _SHARE_BYTES:
            raise SecureAggregationError(
                f"{self.site}: the share from {sealed.sender} has {len(plaintext)} bytes; expected "
                f"{_SHARE_BYTES}"
            )
        index = int.from_bytes(plaintext[:2], "big")
        self._held[sealed.sender] = (
            index,
            plaintext[2 : 2 + SEED_BYTES],
            plaintext[2 + SEED_BYTES :],
        )

    def _channel(self, peer: str) -> AESGCM:
        info = self._setup.pair_info(b"shares", self.site, peer)
        return AESGCM(agree(self._cipher_key, self._peers[peer].cipher_public, KEY_BYTES, info))

    def _sealing_data(self, sender: str, receiver: str) -> bytes:
        return self._setup.context + f"|{sender}->{receiver}".encode()

    def _pairwise_seed(self, peer: str) -> bytes:
        info = self._setup.pair_info(b"mask", self.site, peer)
        return agree(self._mask_key, self._peers[peer].mask_public, SEED_BYTES, info)

    def _require(self, count: int, what: str) -> None:
        if count < self._setup.threshold:
            raise SecureAggregationError(
                f"{self.site}: only {count} {what}; the threshold is {self._setup.threshold}, so "
                "this site stops"
            )


@dataclass(frozen=True)
class SecAggResult:
    """The unmasked float32 sum of the clipped updates of ``sites``, and who dropped when."""

    total: np.ndarray
    sites: tuple[str, ...]
    dropped_before_upload: tuple[str, ...]
    dropped_after_upload: tuple[str, ...]


class SecAggServer:
    """The aggregator's side of a round: it routes keys and shares and sees only masked vectors."""

    def __init__(self, setup: SecAggRound) -> None:
        self._setup = setup
        self._adverts: dict[str, KeyAdvert] = {}
        self._shared: set[str] = set()
        self._masked: dict[str, np.ndarray] = {}

    @property
    def received(self) -> dict[str, np.ndarray]:
        """The masked vectors received so far, by site: all the aggregator holds of an update."""
        return dict(self._masked)

    def collect_adverts(self, adverts: list[KeyAdvert]) -> dict[str, list[KeyAdvert]]:
        """For each advertising site, the keys of its neighbours that advertised too."""
        for advert in adverts:
            if advert.site not in self._setup.graph or advert.site in self._adverts:
                raise SecureAggregationError(
                    f"keys from {advert.site}: not a site of this round, or sent twice"
                )
            self._adverts[advert.site] = advert
        self._require(len(self._adverts), "advertised keys")
        return {
            site: [self._adverts[peer] for peer in self._setup.graph[site] if peer in self._adverts]
            for site in self._adverts
        }

    def route_shares(self, shares: list[EncryptedShare]) -> dict[str, list[EncryptedShare]]:
        """The sealed shares grouped by receiver; the aggregator cannot open them."""
        routed: dict[str, list[EncryptedShare]] = {site: [] for site in self._adverts}
        for sealed in shares:
            if (
                sealed.sender not in self._adverts
                or sealed.receiver not in self._setup.graph[sealed.sender]
            ):
                raise SecureAggregationError(
                    f"share from {sealed.sender} to {sealed.receiver}: not neighbours with keys"
                )
            if sealed.receiver in routed:
                routed[sealed.receiver].append(sealed)
            self._shared.add(sealed.sender)
        self._require(len(self._shared), "shared keys")
        return {site: routed[site] for site in self._shared}

    def receive_masked(self, site: str, masked: np.ndarray) -> None:
        if site not in self._shared or site in self._masked:
            raise SecureAggregationError(
                f"masked update from {site}: it did not share keys this round, or sent twice"
            )
        if masked.dtype != np.uint32 or masked.shape != (self._setup.length,):
            raise SecureAggregationError(
                f"masked update from {site} is {masked.dtype} {masked.shape}; expected uint32 "
                f"({self._setup.length},)"
            )
        self._masked[site] = masked

    def unmask_request(self) -> tuple[list[str], list[str]]:
        """Survivors (uploaded) and dropped (shared keys, never uploaded), for every survivor."""
        self._require(len(self._masked), "sent masked updates")
        return sorted(self._masked), sorted(self._shared - set(self._masked))

    def unmask(self, revealed: list[RevealedShare]) -> SecAggResult:
        survivors, dropped = self.unmask_request()
        responders = {share.holder for share in revealed}
        if not responders <= set(survivors):
            raise SecureAggregationError(
                f"shares from {sorted(responders - set(survivors))}, which did not upload"
            )
        self._require(len(responders), "answered the unmasking request")
        by_owner: dict[tuple[str, str], dict[int, bytes]] = {}
        for share in revealed:
            if share.holder not in self._setup.graph[share.owner]:
                raise SecureAggregationError(
                    f"{share.holder} sent a share of {share.owner}, which is not its neighbour"
                )
            by_owner.setdefault((share.owner, share.kind), {})[share.index] = share.share

        total = np.sum(
            np.stack([self._masked[site] for site in survivors]), axis=0, dtype=np.uint32
        )

        # Every survivor's self mask comes off, whether or not it is still online.
        for owner in survivors:
            seed = self._rebuild(owner, SELF_SEED, by_owner)
            total = total - expand_mask(seed, self._setup.length)

        # A site that shared keys but never uploaded left its pairwise masks in its neighbours'
        # vectors: rebuild its mask key and take them off.
        for owner in dropped:
            key = derive_private_key(self._rebuild(owner, MASK_SEED, by_owner))
            for peer in self._setup.graph[owner]:
                if peer not in self._masked:
                    continue
                info = self._setup.pair_info(b"mask", owner, peer)
                mask = expand_mask(
                    agree(key, self._adverts[peer].mask_public, SEED_BYTES, info),
                    self._setup.length,
                )
                # The peer subtracted the mask if the dropped site sorts first, else it added it.
                total = total + mask if owner < peer else total - mask

        after = tuple(sorted(set(survivors) - responders))
        log.debug(
            "round %s: unmasked the sum of %s sites; %s dropped before upload, %s after",
            self._setup.round,
            len(survivors),
            len(dropped),
            len(after),
        )
        return SecAggResult(
            self._setup.quantizer.dequantize_sum(total), tuple(survivors), tuple(dropped), after
        )

    def _rebuild(
        self, owner: str, kind: str, by_owner: dict[tuple[str, str], dict[int, bytes]]
    ) -> bytes:
        shares = by_owner.get((owner, kind), {})
        threshold = self._setup.threshold
        if len(shares) < threshold:
            raise SecureAggregationError(
                f"secure aggregation of round {self._setup.round} failed: cannot remove the masks "
                "of "
                f"{owner}: {len(shares)} of its {len(self._setup.graph[owner])} neighbours "
                "returned shares "
                f"and the threshold is {threshold}; use fewer dropouts, more neighbours or a lower "
                "threshold"
            )
        chosen = sorted(shares.items())[:threshold]
        return Shamir.combine(chosen)

    def _require(self, count: int, what: str) -> None:
        if count < self._setup.threshold:
            raise SecureAggregationError(
                f"secure aggregation of round {self._setup.round} failed: {count} of "
                f"{len(self._setup.sites)} sites {what}, below the threshold of "
                f"{self._setup.threshold}; "
                "the sum cannot be unmasked without revealing single updates"
            )


def combine_organizations(results: dict[str, SecAggResult]) -> SecAggResult:
    """The federation's sum from each organization's unmasked sum (hierarchical aggregation).

    Each organization runs its own round among its sites and unmasks only its sum; the top
    level adds those sums. An organization whose sum covers a single site would hand that
    site's update to the top, so it is refused.
    """
    for organization, result in sorted(results.items()):
        if len(result.sites) < 2:
            raise SecureAggregationError(
                f"organization {organization}'s sum covers only {list(result.sites)}, so it is "
                "that "
                "site's update; sample at least 2 sites per organization or aggregate flat"
            )
    ordered = [results[organization] for organization in sorted(results)]
    return SecAggResult(
        total=np.sum([result.total for result in ordered], axis=0, dtype=np.float32),
        sites=tuple(site for result in ordered for site in result.sites),
        dropped_before_upload=tuple(
            site for result in ordered for site in result.dropped_before_upload
        ),
        dropped_after_upload=tuple(
            site for result in ordered for site in result.dropped_after_upload
        ),
    )


def check_strategy_compatible(strategy: Strategy) -> None:
    """Refuse secure aggregation for a strategy that needs more than the sum of updates."""
    if not strategy.sum_based:
        raise SecureAggregationError(
            f"strategy {strategy.name!r} cannot run with secure aggregation: it needs each site's "
            "update (to rank, trim or compare them), and secure aggregation reveals only their "
            "sum; "
            "choose a sum-based strategy (FedAvg, FedProx or the FedOpt family) or drop "
            "--secure-aggregation"
        )
