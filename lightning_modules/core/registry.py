"""Registries: methods, drafters, trainable models and tracks register here with what they
need, their knobs (types and ranges), their role and their t0 semantics.

One mechanism for built-ins and user code alike: a family's folder (its `registered.py`,
found by core.plugins' package scan), an installed package's entry point, or a user's
`plugin=FILE.py` run `@register_method(...)` / `register_model(...)` / `register_track(...)`
calls that add to the same registries, so a sweep treats them all alike. What an entry
declares (knobs: core.knobs) is what validation and the tables use.

Example:
    >>> from lightning_modules.core.registry import METHODS, load_builtins
    >>> load_builtins()
    >>> spec = METHODS.get("warm_start")
    >>> spec.role, spec.t0, [k.name for k in spec.knobs][:2]
    ('method', 'knob', ['t0', 'steps'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lightning_modules.core.errors import ConfigError, did_you_mean
from lightning_modules.core.knobs import Knob, check_section
from lightning_modules.core.plugins import load_builtins, load_plugins

__all__ = ["CONTINUOUS", "DRAFTERS", "FAMILIES", "KINDS", "METHODS", "MODELS", "ROLES", "TRACKS", "DrafterSpec",
           "FamilySpec", "Knob", "MethodSpec", "ModelSpec", "Registry", "build_method", "check_section",
           "load_builtins", "load_plugins", "register_drafter", "register_family", "register_method",
           "register_model", "register_track", "transformer_effort", "declared_models"]

T = TypeVar("T")

ROLES = ("baseline", "method", "drafter")
# t0 semantics: "knob" = the sampler starts at method.t0 (swept); "zero" = from noise/all-mask
# at t = 0; "one" = no refinement at all (the drafter alone sits at t0 = 1).
T0_SEMANTICS = ("knob", "zero", "one")
# Sample kinds a track produces; methods, drafters and nets declare which they handle.
KINDS = ("vector", "image", "tokens")
CONTINUOUS = ("vector", "image")


class Registry(Generic[T]):
    """Named entries of one kind; `get` of an unknown name is a one-line ConfigError."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind, self.key = kind, key
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        # Re-registering (a plugin file imported again) replaces the entry.
        self._entries[name] = entry
        return entry

    def get(self, name: str, *, key: str | None = None) -> T:
        load_builtins()
        if name not in self._entries:
            raise ConfigError(key or self.key, name, f"one of {', '.join(self.names()) or 'none registered'}"
                              + did_you_mean(name, self.names()))
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        load_builtins()
        return name in self._entries

    def names(self) -> list[str]:
        load_builtins()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        load_builtins()
        return sorted(self._entries.items())


# --- methods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodSpec:
    """A sampling method. `factory(models, knobs)` returns a `Method`; `needs` names the
    trained models it uses (roles in MODELS: drafter, noise_model, refiner, ...)."""

    name: str
    factory: Callable[[dict, dict], Any]
    needs: tuple[str, ...]
    knobs: tuple[Knob, ...]
    role: str
    t0: str
    kinds: tuple[str, ...]
    source: str = ""
    family: str = ""  # what paper figures colour it by (one colour and marker per family)
    # diagnostics(models by role, data module, cfg) -> a figure's data (analysis.diagnostics),
    # computed once per study for each set of models the method's arms use
    diagnostics: Callable[[dict, Any, Any], dict] | None = None
    # check(method section as a dict): one-line ConfigError for what single knobs cannot say
    # (a pair of knobs that contradict), called by validation before any compute
    check: Callable[[dict], None] | None = None

    def knob(self, name: str) -> Knob | None:
        return next((k for k in self.knobs if k.name == name), None)

    @property
    def warm(self) -> bool:
        """Starts from a trained refiner's state at method.t0 (valid only in its t0 range)."""
        return self.t0 == "knob" and "refiner" in self.needs


METHODS: Registry[MethodSpec] = Registry("method", "method.name")


def build_method(name: str, models: dict, knobs: dict) -> Any:
    """Method `name` from the trained `models` it needs and its knobs: the declared ones
    (defaults fill the optional ones) plus `start` (the refiner's training start state)."""
    spec = METHODS.get(name)
    missing = [m for m in spec.needs if m not in models]
    if missing:
        raise ValueError(f"method '{name}' needs trained models {missing}")
    absent = [k.name for k in spec.knobs if k.required and k.name not in knobs]
    if absent:
        raise ValueError(f"method '{name}' needs knobs {absent}")
    values = {k.name: knobs.get(k.name, k.default) for k in spec.knobs}
    if "start" in knobs and "refiner" in spec.needs:
        values["start"] = knobs["start"]
    return spec.factory(models, values)


def register_method(name: str, *, needs: Iterable[str], role: str, t0: str, kinds: Iterable[str],
                    knobs: Iterable[Knob] = (), factory: Callable | None = None, family: str | None = None,
                    diagnostics: Callable | None = None, check: Callable | None = None) -> Callable:
    """Decorator for a Method class (built as `cls.from_knobs(models, knobs)`) or a factory
    function `fn(models, knobs) -> Method`. `family` (default: the name) groups methods of one
    idea across tracks (warm_start and ws_dfm are both "warm start") for paper figures.
    `diagnostics(models, data, cfg)`: a figure of what the method's models do (the
    scheduling family's step importance), drawn in the study's report. `check(values)`: refuse
    knob values that contradict each other, in one line (ConfigError)."""
    if role not in ROLES:
        raise ValueError(f"role={role!r}: one of {', '.join(ROLES)}")
    if t0 not in T0_SEMANTICS:
        raise ValueError(f"t0={t0!r}: one of {', '.join(T0_SEMANTICS)}")
    kinds = tuple(kinds)
    if not set(kinds) <= set(KINDS):
        raise ValueError(f"kinds={kinds!r}: a subset of {', '.join(KINDS)}")
    knobs = tuple(knobs)
    if t0 == "knob" and not any(k.name == "t0" for k in knobs):
        raise ValueError(f"method {name!r}: t0='knob' needs a declared 't0' knob")

    def wrap(obj: Any) -> Any:
        make = factory or (obj.from_knobs if isinstance(obj, type) else obj)
        METHODS.add(name, MethodSpec(name, make, tuple(needs), knobs, role, t0, kinds,
                                     getattr(obj, "__module__", ""), family or name, diagnostics, check))
        return obj

    return wrap


# --- drafters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrafterSpec:
    """A drafter: `build(cfg.drafter, data)` an untrained module, `fit(model, cfg.drafter,
    data) -> info` trains it in place; `record_knobs` are shown in every trial's params."""

    name: str
    build: Callable[[Any, Any], Any]
    fit: Callable[[Any, Any, Any], dict]
    knobs: tuple[Knob, ...]
    kinds: tuple[str, ...]
    record_knobs: tuple[str, ...] = ()
    effort: Callable[[Any], float] = lambda d: float(d.get("steps", 0) or 0)


DRAFTERS: Registry[DrafterSpec] = Registry("drafter", "drafter.name")


def register_drafter(name: str, *, build: Callable, fit: Callable, knobs: Iterable[Knob], kinds: Iterable[str],
                     record_knobs: Iterable[str] = (), effort: Callable | None = None) -> DrafterSpec:
    spec = DrafterSpec(name, build, fit, tuple(knobs), tuple(kinds), tuple(record_knobs),
                       effort or (lambda d: float(d.get("steps", 0) or 0)))
    return DRAFTERS.add(name, spec)


# --- trainable models (what methods and tracks need, by role) --------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model role (drafter, noise_model, refiner, feature_net, text_lm, ...).

    spec(cfg) -> the JSON-able config it depends on (its cache identity, nothing more);
    build(cfg, data) -> an untrained nn.Module; train(model, cfg, data, get) -> info dict,
    where get(role) returns another trained model (a refiner trains on its drafter's drafts);
    seed(cfg) -> the seed of its initial weights; effort(cfg) -> rough cost, longest first;
    measure(model, cfg, data) -> its held-out fit as train() records it (val NLL, bits per
    character...), so shipped (fp16-rounded) weights are measured the same way; a model
    measured through another (a head on a frozen backbone) takes `get` as a fourth argument.

    A model with settings of its own declares them: `knobs` (types, defaults, ranges) living
    in the config section `config` (e.g. "substrate.mdlm"): the composer fills missing keys
    from the defaults, validation checks them (and `check(values)`, rules across keys), and a
    `ship`ped model is what `python -m sweeps.ship` rounds to fp16 and adds to the package."""

    name: str
    spec: Callable[[Any], dict]
    build: Callable[[Any, Any], Any]
    train: Callable[[Any, Any, Any, Callable], dict]
    seed: Callable[[Any], int]
    effort: Callable[[Any], float] = lambda cfg: 0.0
    after: tuple[str, ...] = ()  # roles it trains on (trained first)
    measure: Callable[[Any, Any, Any], dict] | None = None
    knobs: tuple[Knob, ...] = ()
    config: str | None = None
    check: Callable[[dict], None] = lambda values: None
    ship: bool = False
    # the kind its artifacts are stored under (default: its name): a role that is another
    # model at other settings (the scheduling family's light MDLM is an `mdlm`) shares that
    # model's cache keys and shipped files
    kind: str | None = None

    def cache_kind(self) -> str:
        return self.kind or self.name


MODELS: Registry[ModelSpec] = Registry("model", "model")


def transformer_effort(section: Any) -> float:
    """A transformer's training cost in steps of a 4 x 96 one (width squared times depth), so
    that the scheduler starts a wide evaluator before narrower baselines of more steps."""
    return float(section.steps) * (float(section.width) / 96.0) ** 2 * float(section.depth) / 4.0


def register_model(name: str, **kw: Any) -> ModelSpec:
    if "knobs" in kw:
        kw["knobs"] = tuple(kw["knobs"])
    return MODELS.add(name, ModelSpec(name, **kw))


def declared_models() -> list[ModelSpec]:
    """The models that declare a config section of their own (the text substrate's, a
    plugin's), in name order."""
    return [spec for _, spec in MODELS.items() if spec.config is not None]


# --- refiner families (what `refiner=...` configs train: FM for continuous data, DFM for text)


@dataclass(frozen=True)
class FamilySpec:
    """How the noise_model / refiner roles are built and trained for one family of models;
    `nets` maps refiner.net.arch to the kinds it handles, `net_knobs` to its knobs; `knobs`
    declares the family's own keys of the refiner section (e.g. a second net's settings)."""

    name: str
    kinds: tuple[str, ...]
    spec: Callable[[str, Any], dict]
    build: Callable[[str, Any, Any], Any]
    train: Callable[[str, Any, Any, Any, Any], dict]
    pairings: tuple[str, ...]
    starts: tuple[str, ...]
    nets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    net_knobs: dict[str, tuple[Knob, ...]] = field(default_factory=dict)
    knobs: tuple[Knob, ...] = ()
    # check(refiner section as a dict, roles the method needs): rules across keys, raising a
    # one-line ConfigError (e.g. a noise model cannot use the `nearest` pairing)
    check: Callable[[dict, tuple[str, ...]], None] = lambda refiner, needs: None


FAMILIES: Registry[FamilySpec] = Registry("refiner family", "refiner.family")


def register_family(spec: FamilySpec) -> FamilySpec:
    return FAMILIES.add(spec.name, spec)


# --- tracks ---------------------------------------------------------------------------------


TRACKS: Registry[Any] = Registry("track", "track")


def register_track(track: Any) -> Any:
    """Register a Track instance (a subclass of tracks.base.Track) under track.name."""
    TRACKS.add(track.name, track)
    return track
