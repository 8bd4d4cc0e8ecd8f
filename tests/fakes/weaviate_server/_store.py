"""In-memory state of the test server: classes, tenants and objects.

It keeps Weaviate's rules where a client can observe them: class configs come
back with the server's defaults filled in, multi-tenant classes need a tenant
on every request (created on write when ``autoTenantCreation`` is on), batch
writes upsert by uuid and report per-object errors for values that do not fit
the property's data type or vectors whose length differs from the index's.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid as uuid_lib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CLASS_NAME = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
PROPERTY_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}$")
TENANT_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
RESERVED_PROPERTIES = {"_additional", "_id", "id"}

QUERY_MAXIMUM_RESULTS = 10_000
"""Weaviate's ``QUERY_MAXIMUM_RESULTS`` default: caps offset + limit and one batch delete."""
QUERY_DEFAULTS_LIMIT = 10
"""Weaviate's ``QUERY_DEFAULTS_LIMIT`` default: the limit of a query that sets none."""

_HNSW_DEFAULTS: dict[str, Any] = {
    "skip": False,
    "cleanupIntervalSeconds": 300,
    "maxConnections": 32,
    "efConstruction": 128,
    "ef": -1,
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "vectorCacheMaxObjects": 1_000_000_000_000,
    "flatSearchCutoff": 40_000,
    "distance": "cosine",
    "filterStrategy": "sweeping",
    "pq": {"enabled": False},
    "bq": {"enabled": False},
    "sq": {"enabled": False},
}


class WeaviateError(Exception):
    """An error the server reports to the client (HTTP status and gRPC details)."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class StoredObject:
    uuid: str
    properties: dict[str, Any]
    vectors: dict[str, np.ndarray]
    created_ms: int
    updated_ms: int


@dataclass
class Shard:
    """The objects of one tenant (or of a class without multi-tenancy)."""

    objects: dict[str, StoredObject] = field(default_factory=dict)
    activity: str = "HOT"


@dataclass
class ClassState:
    config: dict[str, Any]
    shards: dict[str, Shard] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config["class"])

    @property
    def multi_tenant(self) -> bool:
        return bool(self.config["multiTenancyConfig"].get("enabled"))

    @property
    def auto_tenant_creation(self) -> bool:
        return bool(self.config["multiTenancyConfig"].get("autoTenantCreation"))

    def prop(self, name: str) -> dict[str, Any] | None:
        for p in self.config["properties"]:
            if p["name"] == name:
                return p  # type: ignore[no-any-return]
        return None

    def vector_names(self) -> list[str]:
        return list(self.config.get("vectorConfig", {}))


def fill_class_defaults(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return a class config the way Weaviate stores it: every default spelled out."""
    out = copy.deepcopy(cfg)
    if out.get("description") is None:
        out.pop("description", None)
    inverted = out.setdefault("invertedIndexConfig", {})
    inverted.setdefault("bm25", {"b": 0.75, "k1": 1.2})
    inverted.setdefault("cleanupIntervalSeconds", 60)
    inverted.setdefault("stopwords", {"preset": "en", "additions": None, "removals": None})
    inverted.setdefault("usingBlockMaxWAND", True)
    mt = out.setdefault("multiTenancyConfig", {})
    mt.setdefault("enabled", False)
    mt.setdefault("autoTenantCreation", False)
    mt.setdefault("autoTenantActivation", False)
    out.setdefault(
        "replicationConfig", {"factor": 1, "asyncEnabled": False, "deletionStrategy": "NoAutomatedResolution"}
    )
    out.setdefault(
        "shardingConfig",
        {
            "virtualPerPhysical": 128,
            "desiredCount": 1,
            "actualCount": 1 if not mt["enabled"] else 0,
            "desiredVirtualCount": 128,
            "actualVirtualCount": 128,
            "key": "_id",
            "strategy": "hash",
            "function": "murmur3",
        },
    )
    if "vectorConfig" in out:
        for vec in out["vectorConfig"].values():
            vec.setdefault("vectorizer", {"none": {}})
            vec.setdefault("vectorIndexType", "hnsw")
            index_cfg = vec.setdefault("vectorIndexConfig", {})
            for key, value in _HNSW_DEFAULTS.items():
                index_cfg.setdefault(key, copy.deepcopy(value))
    else:
        out.setdefault("vectorizer", "none")
        out.setdefault("vectorIndexType", "hnsw")
        index_cfg = out.setdefault("vectorIndexConfig", {})
        for key, value in _HNSW_DEFAULTS.items():
            index_cfg.setdefault(key, copy.deepcopy(value))
    out["properties"] = [fill_property_defaults(p) for p in out.get("properties") or []]
    return out


def fill_property_defaults(prop: dict[str, Any]) -> dict[str, Any]:
    p = {k: v for k, v in prop.items() if k not in ("skip_vectorization", "vectorize_property_name")}
    if not PROPERTY_NAME.match(str(p.get("name", ""))) or p["name"] in RESERVED_PROPERTIES:
        raise WeaviateError(f"'{p.get('name')}' is not a valid property name", status=422)
    data_type = p["dataType"][0]
    text_like = data_type in ("text", "text[]")
    p.setdefault("indexFilterable", True)
    p.setdefault("indexSearchable", text_like)
    p.setdefault("indexRangeFilters", False)
    if text_like:
        p.setdefault("tokenization", "word")
    return p


class Store:
    """Every class the server holds; all access goes through one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.classes: dict[str, ClassState] = {}

    # -- schema -------------------------------------------------------------
    def get_class(self, name: str) -> ClassState:
        cls = self.classes.get(_capitalise(name))
        if cls is None:
            raise WeaviateError(f"class {name!r} not found", status=404)
        return cls

    def create_class(self, cfg: dict[str, Any]) -> dict[str, Any]:
        name = _capitalise(str(cfg.get("class", "")))
        if not CLASS_NAME.match(name):
            raise WeaviateError(f"'{cfg.get('class')}' is not a valid class name", status=422)
        if name in self.classes:
            raise WeaviateError(f'class name "{name}" already exists', status=422)
        full = fill_class_defaults({**cfg, "class": name})
        self.classes[name] = ClassState(config=full)
        return full

    def add_property(self, class_name: str, prop: dict[str, Any]) -> dict[str, Any]:
        cls = self.get_class(class_name)
        full = fill_property_defaults(prop)
        if cls.prop(full["name"]) is not None:
            raise WeaviateError(f"property {full['name']!r} already exists on class {cls.name}", status=422)
        cls.config["properties"].append(full)
        return full

    # -- tenants ------------------------------------------------------------
    def shard(self, cls: ClassState, tenant: str, *, create: bool = False) -> Shard:
        """The shard a request addresses, applying Weaviate's tenant rules."""
        if not cls.multi_tenant:
            if tenant:
                raise WeaviateError(
                    f"class {cls.name} has multi-tenancy disabled, but request was with tenant", status=422
                )
            return cls.shards.setdefault("", Shard())
        if not tenant:
            raise WeaviateError(f"class {cls.name} has multi-tenancy enabled, but request was without tenant")
        found = cls.shards.get(tenant)
        if found is None:
            if not (create and cls.auto_tenant_creation):
                raise WeaviateError(f'tenant not found: "{tenant}"', status=422)
            found = self.add_tenant(cls, tenant)
        return found

    def add_tenant(self, cls: ClassState, name: str) -> Shard:
        if not cls.multi_tenant:
            raise WeaviateError(f"multi-tenancy is not enabled for class {cls.name!r}")
        if not TENANT_NAME.match(name):
            raise WeaviateError(f"tenant name {name!r} is invalid: must match {TENANT_NAME.pattern}")
        return cls.shards.setdefault(name, Shard())

    # -- objects ------------------------------------------------------------
    def put_object(
        self,
        cls: ClassState,
        tenant: str,
        object_id: str,
        properties: dict[str, Any],
        vectors: dict[str, np.ndarray],
    ) -> None:
        """Upsert one object, validating it as Weaviate does; raises WeaviateError per object."""
        try:
            object_id = str(uuid_lib.UUID(object_id))
        except ValueError as exc:
            raise WeaviateError(f"invalid UUID {object_id!r}") from exc
        clean = {name: self._coerce(cls, name, value) for name, value in properties.items()}
        clean = {k: v for k, v in clean.items() if v is not None}
        for name, vec in vectors.items():
            if name not in cls.vector_names():
                raise WeaviateError(f"collection {cls.name} does not have a named vector {name!r} configured")
            expected = cls.dims.get(name)
            if expected is not None and len(vec) != expected:
                raise WeaviateError(
                    f"insert to vector index: new node has a vector with length {len(vec)}. "
                    f"Existing nodes have vectors with length {expected}"
                )
        shard = self.shard(cls, tenant, create=True)
        for name, vec in vectors.items():
            cls.dims.setdefault(name, len(vec))
        now = int(time.time() * 1000)
        previous = shard.objects.get(object_id)
        shard.objects[object_id] = StoredObject(
            uuid=object_id,
            properties=clean,
            vectors=vectors,
            created_ms=previous.created_ms if previous else now,
            updated_ms=now,
        )

    def _coerce(self, cls: ClassState, name: str, value: Any) -> Any:
        if value is None:
            return None
        prop = cls.prop(name)
        if prop is None:
            prop = self.add_property(cls.name, {"name": name, "dataType": [_infer_type(name, value)]})
        return coerce_value(cls.name, prop, value)


def coerce_value(class_name: str, prop: dict[str, Any], value: Any) -> Any:
    """Check ``value`` against a property's data type as Weaviate's validator does."""
    name, data_type = prop["name"], prop["dataType"][0]
    where = f"property '{name}' on class '{class_name}'"
    if data_type.endswith("[]"):
        if not isinstance(value, list):
            raise WeaviateError(f"invalid {data_type} {where}: not a list, but {_go_type(value)}")
        return [coerce_value(class_name, {**prop, "dataType": [data_type[:-2]]}, v) for v in value]
    if data_type in ("text", "uuid", "date"):
        if not isinstance(value, str):
            raise WeaviateError(f"invalid {data_type} {where}: not a string, but {_go_type(value)}")
        return value
    if data_type == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise WeaviateError(f"invalid integer {where}: requires integer, got {_go_type(value)}")
        return int(value)
    if data_type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WeaviateError(f"invalid number {where}: requires float, got {_go_type(value)}")
        return float(value)
    if data_type == "boolean":
        if not isinstance(value, bool):
            raise WeaviateError(f"invalid boolean {where}: not a boolean, but {_go_type(value)}")
        return value
    raise WeaviateError(f"data type {data_type!r} of {where} is not supported by the test server")


def _infer_type(name: str, value: Any) -> str:
    """Weaviate's auto-schema: JSON numbers become ``number``, strings ``text``."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list) and value:
        return _infer_type(name, value[0]) + "[]"
    raise WeaviateError(f"could not infer the data type of property {name!r} from {value!r}")


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def _capitalise(name: str) -> str:
    return name[:1].upper() + name[1:]


__all__ = [
    "QUERY_DEFAULTS_LIMIT",
    "QUERY_MAXIMUM_RESULTS",
    "ClassState",
    "Shard",
    "Store",
    "StoredObject",
    "WeaviateError",
    "coerce_value",
    "fill_class_defaults",
]
