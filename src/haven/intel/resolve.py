"""`intel resolve`: records → normalised records → scored links (Splink) → subjects.

The Splink model is trained on the operation's own records (u by seeded random sampling,
m by expectation maximisation on two blocking rules), so no labels are needed; it is saved
as OPERATION_DIR/model.json so an analyst (or a later run) can see every m/u value. Links
keep their per-comparison match weights, so "why are these rows one subject" is answerable.

Backends: training always runs in process on DuckDB (it is bounded: sampled pairs and two
blocks). Prediction over every blocked pair runs on a backend object (`haven.intel.backends`:
DuckDB by default, or Spark, `haven.intel.spark_backend.SparkBackend`) from the same trained
m/u values, so both give the same links and, through the same clustering, the same subjects.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from haven.intel.backends import (BACKENDS, PREDICTION_COLUMNS, DuckDBBackend, ScoringBackend,
                                   ScoringJob, backend_named)
from haven.intel.cluster import ClusterParams, Link, cluster, groups
from haven.intel.countries import cctld_country, provider_country
from haven.intel.decisions import DecisionsError, read_decisions
from haven.intel.errors import OperationError
from haven.intel.normalise import (
    email_domain,
    given_name_aliases,
    given_names_compatible,
    name_parts,
    normalise_country,
    normalise_date,
    normalise_email,
    normalise_ip,
    normalise_national_id,
    normalise_phone,
    normalise_postcode,
    normalise_username,
    fold_name,
)
from haven.intel.payment import card_identity
from haven.intel.store import open_store

MODEL_NAME = "model.json"
SEED = 20240601
#: DuckDB's own memory cap during resolution (HAVEN_DUCKDB_MEMORY overrides it).
DUCKDB_MEMORY_LIMIT = os.environ.get("HAVEN_DUCKDB_MEMORY", "1500MB")
# Link weights are rounded before clustering: the merge order (strongest first, ties by
# record ids) and the threshold tests must not depend on the last bits of a float, which
# DuckDB and Spark may sum in a different order.
WEIGHT_DECIMALS = 6

#: Columns of the `normalised` table, in order.
NORMALISED_COLUMNS = (
    "record_id", "file", "row", "full_name", "first_f", "last_f", "full_f", "first_aliases",
    "last_tokens", "email", "email_digits",
    "email_domain", "username", "phone", "phone_region", "phone_explicit", "phone_valid",
    "dob", "street_f", "city_f", "postcode", "country", "declared_country", "card",
    "card_country", "iban_country", "ip", "ip_version", "ip_nonpublic", "national_id",
    "card_kind", "card_masked", "card_expiry", "card_hmac",
)
#: The payment identity's details beside its key (`card`): for indicators, not for Splink.
CARD_DETAIL_COLUMNS = ("card_kind", "card_masked", "card_expiry", "card_hmac")
# Comparisons whose exact agreement makes a link "strong" (allowed to join two groups). A card
# is shared in a household and a stolen one by strangers: both have other given names, which
# the first-name veto refuses; what is left is one person's card.
_STRONG = ("email", "phone", "username", "dob", "national_id", "card")
# Comparisons whose disagreement (negative weight) contradicts a link: one person rarely has
# two of these, namesakes nearly always do.
_CONTRADICTING = (*_STRONG, "street_f", "postcode")
#: A value held by more records than this identifies nobody (a placeholder date of birth
#: "1862-01-01" on 596 records, a shop's own phone): agreeing on it does not make a link strong.
#: The same as the largest subject clustering allows (`ClusterParams.max_size`).
IDENTIFIER_MAX_RECORDS = 30


@dataclass
class ResolveSummary:
    records: int
    subjects: int
    links: int
    largest_subject: int
    multi_record_subjects: int
    decisions_merge: int = 0
    decisions_split: int = 0


def normalise_record(rec: dict, default_region: str | None = None) -> dict:
    """One stored record → its normalised form (pure).

    `default_region`: the country most of the record's file is from, the last hint for a
    phone written in national form on a row that names no country.
    """
    parts = name_parts(rec.get("full_name"), rec.get("first_name"), rec.get("last_name"))
    email = normalise_email(rec.get("email"))
    domain = email_domain(email)
    country = normalise_country(rec.get("country"))
    declared = normalise_country(rec.get("declared_country"))
    # `card` is the payment identity's comparable key (haven.intel.payment): BIN + last 4
    # for full, masked and split card numbers alike, `tok:`/`fp:`/`iban:`/`acct:` otherwise.
    ident = card_identity(rec.get("card"))
    card = ident.key if ident else None
    card_country = normalise_country(rec.get("card_country"))
    iban = ident.iban_country if ident else None
    hints = (country, declared, card_country, iban,
             provider_country(domain) if domain else None,
             cctld_country(domain) if domain else None, default_region)
    phone = normalise_phone(rec.get("phone"), hints)
    ip = normalise_ip(rec.get("ip"))
    return {
        "record_id": rec["record_id"],
        "file": rec["file"],
        "row": rec["row"],
        "full_name": parts.full,
        "first_f": parts.first_folded,
        "last_f": parts.last_folded,
        "full_f": parts.full_folded,
        "first_aliases": list(given_name_aliases(parts.first_folded)) or None,
        "last_tokens": list(parts.surname_tokens) or None,
        "email": email,
        # the digits of an address, which a typo level must not differ in: john.nguyen3747@
        # and nguyen.john530@ are two people however alike the rest
        "email_digits": "".join(ch for ch in email if ch.isdigit()) if email else None,
        "email_domain": domain,
        "username": normalise_username(rec.get("username")),
        "phone": phone.e164 if phone and phone.valid else None,
        "phone_region": phone.region if phone and phone.valid else None,
        "phone_explicit": bool(phone and phone.explicit_cc),
        "phone_valid": bool(phone and phone.valid),
        "dob": normalise_date(rec.get("dob")),
        "street_f": fold_name(rec.get("street")),
        "city_f": fold_name(rec.get("city")),
        "postcode": normalise_postcode(rec.get("postcode")),
        "country": country,
        "declared_country": declared,
        "card": card,
        "card_country": card_country,
        "iban_country": iban,
        "ip": ip.address if ip else None,
        "ip_version": ip.version if ip else None,
        "ip_nonpublic": ip.non_public if ip else None,
        "national_id": normalise_national_id(rec.get("national_id")),
        "card_kind": ident.kind if ident else None,
        "card_masked": ident.masked if ident else None,
        "card_expiry": ident.expiry if ident else None,
        "card_hmac": ident.pan_hmac if ident else None,
    }


# Prior m/u per comparison level (exact first, "else" last). Lists too small to train on
# (fewer than MIN_TRAIN records) are scored with these alone; larger lists re-estimate u
# by random sampling and m by expectation maximisation, starting from them.
MIN_TRAIN = 1000
# first_f: exact, given name and surname swapped, JW ≥ 0.92, nickname (shared alias),
# JW ≥ 0.8, initial of the other, else. last_f: exact, swapped, JW ≥ 0.92, one part of a
# double surname, JW ≥ 0.8, else.
PRIORS: dict[str, tuple[list[float], list[float]]] = {
    "first_f": ([0.75, 0.02, 0.06, 0.03, 0.03, 0.05, 0.06],
                [0.001, 0.00001, 0.0005, 0.0005, 0.004, 0.003, 0.991]),
    "last_f": ([0.82, 0.02, 0.07, 0.04, 0.02, 0.03],
               [0.001, 0.00001, 0.0003, 0.0002, 0.002, 0.9965]),
    "email": ([0.72, 0.06, 0.22], [0.0001, 0.00005, 0.99985]),  # exact, typo, else
    "phone": ([0.7, 0.3], [0.0001, 0.9999]),
    "username": ([0.8, 0.05, 0.15], [0.0001, 0.0002, 0.9997]),
    "dob": ([0.8, 0.05, 0.15], [0.00005, 0.0005, 0.99945]),
    "postcode": ([0.8, 0.2], [0.001, 0.999]),
    "city_f": ([0.8, 0.2], [0.005, 0.995]),
    "street_f": ([0.7, 0.1, 0.2], [0.0005, 0.0005, 0.999]),
    "ip": ([0.4, 0.6], [0.0001, 0.9999]),
    "card": ([0.5, 0.5], [0.0001, 0.9999]),
    "national_id": ([0.85, 0.1, 0.05], [0.00005, 0.0002, 0.99975]),
}


@dataclass(frozen=True)
class ModelParameters:
    """A trained model's numbers: per comparison column, m and u of each non-null level."""

    levels: dict[str, tuple[list[float], list[float]]]
    probability_two_random_records_match: float


def model_parameters(model: dict) -> ModelParameters:
    """Read m/u per comparison level from a Splink model (the dict of model.json)."""
    levels: dict[str, tuple[list[float], list[float]]] = {}
    for comp in model.get("comparisons", []):
        col = comp.get("output_column_name")
        lv = [x for x in comp.get("comparison_levels", []) if not x.get("is_null_level")]
        if col not in PRIORS or len(lv) != len(PRIORS[col][0]):
            continue  # a comparison this version does not define the same way: priors stand
        pm, pu = PRIORS[col]
        levels[col] = (
            [x.get("m_probability", d) for x, d in zip(lv, pm)],
            [x.get("u_probability", d) for x, d in zip(lv, pu)],
        )
    return ModelParameters(levels, float(model.get("probability_two_random_records_match",
                                                   0.0001)))


def _settings(columns_present: set[str], use_tf: bool = True,  # type: ignore[no-untyped-def]
              trained: ModelParameters | None = None):
    """Splink settings; term-frequency adjustments only on lists big enough to count terms.

    With `trained`, each comparison starts from (and, unless trained again, keeps) the
    trained m/u instead of the priors: how one model is carried to another backend.
    """
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def prior(col: str, comp, tf: bool = True):  # type: ignore[no-untyped-def]
        m, u = trained.levels.get(col, PRIORS[col]) if trained else PRIORS[col]
        return comp.configure(term_frequency_adjustments=tf and use_tf, m_probabilities=m,
                              u_probabilities=u)

    makers = {
        "first_f": lambda: prior("first_f", _first_name_comparison()),
        "last_f": lambda: prior("last_f", _last_name_comparison()),
        "email": lambda: prior("email", _email_comparison()),
        "phone": lambda: prior("phone", cl.ExactMatch("phone")),
        "username": lambda: prior("username", cl.LevenshteinAtThresholds("username", [1]), False),
        "dob": lambda: prior("dob", cl.LevenshteinAtThresholds("dob", [1]), False),
        "postcode": lambda: prior("postcode", cl.ExactMatch("postcode")),
        "city_f": lambda: prior("city_f", cl.ExactMatch("city_f")),
        "street_f": lambda: prior("street_f", cl.JaroWinklerAtThresholds("street_f", [0.9]), False),
        "ip": lambda: prior("ip", cl.ExactMatch("ip")),
        "card": lambda: prior("card", cl.ExactMatch("card")),
        "national_id": lambda: prior(
            "national_id", cl.LevenshteinAtThresholds("national_id", [1]), False),
    }
    always = ("first_f", "last_f", "email", "phone")
    comparisons = [make() for col, make in makers.items()
                   if col in always or col in columns_present]
    rules = [block_on("email"), block_on("phone"), block_on("first_f", "last_f"),
             "l.first_f = r.last_f AND l.last_f = r.first_f"]   # given name and surname swapped
    if "username" in columns_present:
        rules.append(block_on("username"))
    if "postcode" in columns_present:
        rules.append(block_on("last_f", "postcode"))
        rules.append(block_on("first_f", "postcode"))
    if "national_id" in columns_present:
        rules.append(block_on("national_id"))
    if "dob" in columns_present:
        rules.append(block_on("dob", "last_f"))
        rules.append(block_on("dob", "first_f"))
        if "postcode" in columns_present:
            rules.append(block_on("dob", "postcode"))   # both names mistyped or replaced
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        probability_two_random_records_match=(
            trained.probability_two_random_records_match if trained else 0.0001),
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


def _first_name_comparison():  # type: ignore[no-untyped-def]
    """Given names: exact, swapped with the surname, typo, nickname, initial, else."""
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    initial = ("(length(first_f_l) = 1 OR length(first_f_r) = 1) AND "
               "substr(first_f_l, 1, 1) = substr(first_f_r, 1, 1)")
    return CustomComparison(output_column_name="first_f", comparison_levels=[
        cll.NullLevel("first_f"),
        cll.ExactMatchLevel("first_f"),
        cll.ColumnsReversedLevel("first_f", "last_f"),
        cll.JaroWinklerLevel("first_f", 0.92),
        cll.ArrayIntersectLevel("first_aliases", 1),
        cll.JaroWinklerLevel("first_f", 0.8),
        cll.CustomLevel(initial, "initial of the other", base_dialect_str="duckdb"),
        cll.ElseLevel(),
    ])


def _email_comparison():  # type: ignore[no-untyped-def]
    """E-mails: exact; a typo (Levenshtein ≤ 2) with the same digits; else.

    Not Jaro-Winkler: at 400k rows it read john.nguyen3747@… and nguyen.john530@… (two
    people named John Nguyen) as a typo and chained 10 people into one subject.
    """
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    return CustomComparison(output_column_name="email", comparison_levels=[
        cll.NullLevel("email"),
        cll.ExactMatchLevel("email"),
        cll.And(cll.LevenshteinLevel("email", 2), cll.ExactMatchLevel("email_digits")),
        cll.ElseLevel(),
    ])


def _last_name_comparison():  # type: ignore[no-untyped-def]
    """Surnames: exact, swapped with the given name, typo, one part of a double one, else."""
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    return CustomComparison(output_column_name="last_f", comparison_levels=[
        cll.NullLevel("last_f"),
        cll.ExactMatchLevel("last_f"),
        cll.ColumnsReversedLevel("first_f", "last_f"),
        cll.JaroWinklerLevel("last_f", 0.92),
        cll.ArrayIntersectLevel("last_tokens", 1),
        cll.JaroWinklerLevel("last_f", 0.8),
        cll.ElseLevel(),
    ])


def score_links(
    normalised: pa.Table,
    model_path: Path | None = None,
    threshold: float = 0.0,
    on_stage: Callable[[str], None] | None = None,
    backend: ScoringBackend | None = None,
    model: dict | None = None,
) -> tuple[list[Link], pa.Table, dict]:
    """Train a Splink model on `normalised` (DuckDB) and score the blocked pairs.

    `backend` (opened by the caller) scores the blocked pairs from the trained m/u: in
    process on DuckDB by default. With `model` (a saved model.json as a
    dict) training is skipped and that model scores the pairs. Returns the links at or above
    `threshold` (match weight), a table of them with each comparison's weight, and the model.
    """
    from splink import DuckDBAPI, Linker, block_on

    backend = backend or DuckDBBackend()
    stage = on_stage or (lambda s: None)
    logging.getLogger("splink").setLevel(logging.ERROR)
    present = {c for c in normalised.column_names
               if normalised.column(c).null_count < normalised.num_rows}
    con = duckdb.connect(":memory:")
    con.execute("SET threads TO 2")
    # bounded: DuckDB spills to a temporary directory instead of growing past this
    # (the 400k-row run peaked at 4.4 GB without it; the budget is 4 GB in all)
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    db = DuckDBAPI(connection=con)
    table = normalised.select([c for c in normalised.column_names
                               if c not in ("phone_explicit", "phone_valid", "ip_version",
                                            *CARD_DETAIL_COLUMNS)])
    sdf = db.register(table, table_name="haven_records")
    n = normalised.num_rows
    use_tf = n >= MIN_TRAIN
    given = model_parameters(model) if model is not None else None
    linker = Linker(sdf, _settings(present, use_tf=use_tf, trained=given), log_level=None)
    if given is None and n >= MIN_TRAIN:
        stage("estimating u (random sampling)")
        # Sure-match rules from the identifiers the list has (a list with no e-mail and no
        # phone would estimate 0 and break the log-odds).
        sure = [block_on(c) for c in ("email", "phone") if c in present] or (
            [block_on("first_f", "last_f", "dob")] if "dob" in present else [])
        if sure:
            linker.training.estimate_probability_two_random_records_match(sure, recall=0.7)
        linker.training.estimate_u_using_random_sampling(
            max_pairs=max(1e5, min(5e6, n * 50.0)), seed=SEED
        )
        stage("estimating m (expectation maximisation)")
        for rule in (block_on("email"), block_on("first_f", "last_f")):
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=True
                )
            except Exception as exc:  # noqa: BLE001 — Splink raises bare Exceptions here
                # Too few pairs for this rule: the priors stand for what it would estimate.
                logging.getLogger(__name__).info("EM on %s skipped: %s", rule, exc)
    trained = linker.misc.save_model_to_json(str(model_path), overwrite=True) if model_path \
        else linker.misc.save_model_to_json()
    arrow = backend.score(ScoringJob(
        linker, con, normalised,
        settings=lambda: _settings(present, use_tf=use_tf, trained=model_parameters(trained)),
        threshold=threshold, stage=stage))
    links, table_out = _links_from_predictions(arrow, normalised)
    con.close()
    return links, table_out, trained


def _links_from_predictions(arrow: pa.Table, normalised: pa.Table) -> tuple[list[Link], pa.Table]:
    # Splink 5 returns one match-weight column per comparison (mw_X) and its term-frequency
    # adjustment (mw_tf_adj_X); their sum is that comparison's part of the link's weight.
    cols = arrow.column_names
    names = [c[3:] for c in cols if c.startswith("mw_") and not c.startswith("mw_tf_adj_")]
    # only the columns read below become Python objects (the prediction also carries both
    # sides' values and every gamma/bf column: most of resolve's peak memory at 400k rows)
    data = arrow.select([c for c in cols if c.startswith("mw_") or c in PREDICTION_COLUMNS]
                        ).to_pydict()
    rows = arrow.num_rows
    strong_values = {
        c: dict(zip(normalised.column("record_id").to_pylist(), normalised.column(c).to_pylist()))
        for c in _STRONG if c in normalised.column_names
    }
    for vals in strong_values.values():
        counts = Counter(v for v in vals.values() if v is not None)
        common = {v for v, n in counts.items() if n > IDENTIFIER_MAX_RECORDS}
        if common:
            for k, v in vals.items():
                if v in common:
                    vals[k] = None
    given_family = {c: dict(zip(normalised.column("record_id").to_pylist(),
                                normalised.column(c).to_pylist())) for c in ("first_f", "last_f")}
    zeros = [0.0] * rows  # one list for absent columns: a default built per pair is O(n^2)
    parts = [(name, data[f"mw_{name}"], data.get(f"mw_tf_adj_{name}", zeros)) for name in names]
    first = given_family["first_f"]
    lefts, rights, weights, probs, whys, strongs, vetoes, contras = [], [], [], [], [], [], [], []
    against = [(mw, tf) for name, mw, tf in parts if name in _CONTRADICTING]
    links: list[Link] = []
    for i in range(rows):
        l, r = data["record_id_l"][i], data["record_id_r"][i]
        if l > r:
            l, r = r, l
        why: dict[str, float] = {}
        for name, mw, tf in parts:
            w = (mw[i] or 0.0) + (tf[i] or 0.0)
            if abs(w) >= 0.05:
                why[name] = round(w, 2)
        strong = any(
            vals.get(l) is not None and vals.get(l) == vals.get(r) for vals in strong_values.values()
        )
        # Both given names present and not one person's (not equal, not an initial, nickname,
        # prefix or typo of the other): a different person of the same household (shared
        # e-mail, phone, card, address) far more often than a typo — unless the names are
        # the same two swapped, or a national id (never shared in a household) agrees.
        veto = (not given_names_compatible(first.get(l), first.get(r))
                and not _same_person_despite_first_name(l, r, strong_values, given_family))
        weight = round(float(data["match_weight"][i]), WEIGHT_DECIMALS)
        contra = any((mw[i] or 0.0) + (tf[i] or 0.0) < 0 for mw, tf in against)
        links.append(Link(l, r, weight, strong, veto, contra))
        lefts.append(l)
        rights.append(r)
        weights.append(round(weight, 3))
        probs.append(round(float(data["match_probability"][i]), 6))
        whys.append(json.dumps(dict(sorted(why.items(), key=lambda kv: (-abs(kv[1]), kv[0])))))
        strongs.append(strong)
        vetoes.append(veto)
        contras.append(contra)
    out = pa.table({"record_id_l": pa.array(lefts, pa.string()),
                    "record_id_r": pa.array(rights, pa.string()),
                    "match_weight": pa.array(weights, pa.float64()),
                    "match_probability": pa.array(probs, pa.float64()),
                    "why": pa.array(whys, pa.string()),
                    "strong": pa.array(strongs, pa.bool_()),
                    "veto": pa.array(vetoes, pa.bool_()),
                    "contradicted": pa.array(contras, pa.bool_())})
    return links, out


def _same_person_despite_first_name(l: str, r: str, strong_values: dict, names: dict) -> bool:
    """Lift the household veto: national ids agree; or the surnames are alike and the dates
    of birth agree (household members differ in birth date, twins aside); or given name and
    surname are swapped ("Fournier Agathe" in the given/surname columns beside "A. Fournier").

    Identifiers here are the list's rare values only (a placeholder date of birth held by
    more than `IDENTIFIER_MAX_RECORDS` records lifts nothing).
    """
    nid = strong_values.get("national_id", {})
    if nid.get(l) is not None and nid.get(l) == nid.get(r):
        return True
    fl, ll = names["first_f"].get(l), names["last_f"].get(l)
    fr, lr = names["first_f"].get(r), names["last_f"].get(r)
    if not (fl and ll and fr and lr):
        return False
    from difflib import SequenceMatcher

    def alike(x: str, y: str) -> bool:
        x, y = x.replace(" ", ""), y.replace(" ", "")
        return x == y or SequenceMatcher(None, x, y).ratio() >= 0.8

    dob = strong_values.get("dob", {})
    if dob.get(l) is not None and dob.get(l) == dob.get(r) and alike(ll, lr):
        return True
    # swapped on one side: the surname of one is alike the other's given-name-column value,
    # and the given name of one is (an initial, nickname or typo of) the other's
    # surname-column value — "Mcdaniel Lauren" beside "L. Mcdaniel", either way round
    return ((alike(fl, lr) and given_names_compatible(ll, fr))
            or (given_names_compatible(fl, lr) and alike(ll, fr)))


def resolve_operation(
    op_dir: Path,
    params: ClusterParams = ClusterParams(),
    on_stage: Callable[[str], None] | None = None,
    backend: ScoringBackend | str = "duckdb",
    master: str = "local[2]",
    spark: Any = None,
    spark_conf: dict[str, str] | None = None,
    reuse_model: bool = False,
) -> ResolveSummary:
    """Normalise the operation's records, score links with Splink, cluster into subjects.

    `backend` scores the blocked pairs (`haven.intel.backends`): a backend object, or its
    name ("duckdb", "spark") built with `master`, `spark_conf` and `spark` (a SparkSession to
    use, left running; otherwise one is started for `master` and stopped at the end).
    `reuse_model` scores with OP/model.json as it is instead of training again.
    """
    stage = on_stage or (lambda s: None)
    if isinstance(backend, str):
        backend = backend_named(backend, master=master, conf=spark_conf, session=spark)
    model = _read_model(op_dir) if reuse_model else None
    con = open_store(op_dir)
    try:
        stage("normalising records")
        rel = con.sql("SELECT * FROM records ORDER BY file, sha256, row")
        rows = [dict(zip(rel.columns, r)) for r in rel.fetchall()]
        # Phones are validated grouped by country hint: phonenumbers' metadata stays warm.
        rows.sort(key=lambda r: (r.get("country") or "", r.get("declared_country") or ""))
        regions = _file_regions(rows)
        normalised = [normalise_record(r, regions.get(r["file"])) for r in rows]
        del rows   # the raw records as Python dicts: hundreds of MB at 400k rows
        normalised.sort(key=lambda r: r["record_id"])
        table = pa.Table.from_pylist(normalised, schema=_normalised_schema())
        record_ids = [r["record_id"] for r in normalised]
        ref_to_id = {(r["file"], r["row"]): r["record_id"] for r in normalised}
        del normalised   # from here on the Arrow table is the normalised records
        con.execute("DROP TABLE IF EXISTS normalised")
        con.register("_haven_norm", table)
        con.execute("CREATE TABLE normalised AS SELECT * FROM _haven_norm")
        con.unregister("_haven_norm")

        decisions = read_decisions(op_dir)
        merges = [_ids(g, ref_to_id) for g in decisions.merge]
        splits = [_ids(g, ref_to_id) for g in decisions.split]

        if len(record_ids) >= 2:
            backend.open(stage)
            links, link_table, _ = score_links(
                table, model_path=op_dir / MODEL_NAME, threshold=min(0.0, params.threshold),
                on_stage=stage, backend=backend, model=model,
            )
        else:
            links, link_table = [], pa.table({"record_id_l": pa.array([], pa.string())})
        stage("clustering")
        assignment = cluster(record_ids, links, params, merges, splits)
        subj = pa.table({"record_id": list(assignment), "subject_id": list(assignment.values())})
        con.execute("DROP TABLE IF EXISTS subject_records")
        con.register("_haven_subj", subj)
        con.execute("CREATE TABLE subject_records AS SELECT * FROM _haven_subj ORDER BY "
                    "subject_id, record_id")
        con.unregister("_haven_subj")
        con.execute("DROP TABLE IF EXISTS links")
        if link_table.num_columns > 1:
            con.register("_haven_links", link_table)
            con.execute(
                "CREATE TABLE links AS SELECT l.*, s1.subject_id AS subject_id, "
                "s1.subject_id = s2.subject_id AS same_subject FROM _haven_links l "
                "JOIN subject_records s1 ON s1.record_id = l.record_id_l "
                "JOIN subject_records s2 ON s2.record_id = l.record_id_r "
                "ORDER BY record_id_l, record_id_r"
            )
            con.unregister("_haven_links")
        else:
            con.execute("CREATE TABLE links (record_id_l VARCHAR, record_id_r VARCHAR, "
                        "match_weight DOUBLE, match_probability DOUBLE, why VARCHAR, "
                        "strong BOOLEAN, veto BOOLEAN, contradicted BOOLEAN, "
                        "subject_id VARCHAR, same_subject BOOLEAN)")
        con.execute("DROP TABLE IF EXISTS resolve_params")
        con.execute("CREATE TABLE resolve_params AS SELECT ? AS params",
                    [json.dumps({**asdict(params), "backend": backend.name,
                                 "reused_model": reuse_model})])
        sizes = [len(v) for v in groups(assignment).values()]
        return ResolveSummary(
            records=len(record_ids),
            subjects=len(sizes),
            links=sum(1 for lk in links if lk.weight >= params.threshold),
            largest_subject=max(sizes, default=0),
            multi_record_subjects=sum(1 for s in sizes if s > 1),
            decisions_merge=len(merges),
            decisions_split=len(splits),
        )
    finally:
        con.close()
        backend.close()


def _file_regions(rows: list[dict]) -> dict[str, str]:
    """file → the country most of its rows name (a list is usually one shop's, one market's)."""
    counts: dict[str, Counter] = {}
    for r in rows:
        cc = normalise_country(r.get("country"))
        if cc:
            counts.setdefault(r["file"], Counter())[cc] += 1
    return {f: c.most_common(1)[0][0] for f, c in counts.items()}


def _read_model(op_dir: Path) -> dict:
    path = op_dir / MODEL_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OperationError(f"{path} does not exist: run 'haven intel resolve --op {op_dir}' "
                             "once without --reuse-model to train one") from None
    except (OSError, ValueError) as exc:
        raise OperationError(f"cannot read the model {path}: {exc}") from exc


def _ids(group: list[tuple[str, int]], ref_to_id: dict) -> list[str]:
    out = []
    for ref in group:
        if ref not in ref_to_id:
            raise DecisionsError(
                f"decisions.yaml names {ref[0]}:{ref[1]}, which is not a loaded record"
            )
        out.append(ref_to_id[ref])
    return out


def _normalised_schema() -> pa.Schema:
    types = {"row": pa.int64(), "phone_explicit": pa.bool_(), "phone_valid": pa.bool_(),
             "ip_version": pa.int64(), "first_aliases": pa.list_(pa.string()),
             "last_tokens": pa.list_(pa.string())}
    return pa.schema([(c, types.get(c, pa.string())) for c in NORMALISED_COLUMNS])


def iter_normalised(rows: Iterable[dict]) -> list[dict]:
    """Normalise many stored records (pure; convenient for tests and benchmarks)."""
    return [normalise_record(r) for r in rows]
