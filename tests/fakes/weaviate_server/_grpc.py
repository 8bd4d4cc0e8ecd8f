"""The gRPC side of the test server, built on the client's own proto stubs."""

from __future__ import annotations

import struct
import time
import uuid as uuid_lib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
from google.protobuf import json_format
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    base_search_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

from ._query import HYBRID_SUB_LIMIT, FilterSpec, Scored, compile_filter, fuse, keyword_search, vector_search
from ._store import QUERY_DEFAULTS_LIMIT, ClassState, StoredObject, WeaviateError

if TYPE_CHECKING:
    from . import WeaviateTestServer

_OPERATORS = {
    base_pb2.Filters.OPERATOR_EQUAL: "Equal",
    base_pb2.Filters.OPERATOR_NOT_EQUAL: "NotEqual",
    base_pb2.Filters.OPERATOR_GREATER_THAN: "GreaterThan",
    base_pb2.Filters.OPERATOR_GREATER_THAN_EQUAL: "GreaterThanEqual",
    base_pb2.Filters.OPERATOR_LESS_THAN: "LessThan",
    base_pb2.Filters.OPERATOR_LESS_THAN_EQUAL: "LessThanEqual",
    base_pb2.Filters.OPERATOR_AND: "And",
    base_pb2.Filters.OPERATOR_OR: "Or",
    base_pb2.Filters.OPERATOR_NOT: "Not",
    base_pb2.Filters.OPERATOR_LIKE: "Like",
    base_pb2.Filters.OPERATOR_IS_NULL: "IsNull",
    base_pb2.Filters.OPERATOR_CONTAINS_ANY: "ContainsAny",
    base_pb2.Filters.OPERATOR_CONTAINS_ALL: "ContainsAll",
    base_pb2.Filters.OPERATOR_CONTAINS_NONE: "ContainsNone",
}
_VALUE_KINDS = {
    "value_text": "text",
    "value_int": "int",
    "value_number": "number",
    "value_boolean": "boolean",
    "value_text_array": "text_array",
    "value_int_array": "int_array",
    "value_number_array": "number_array",
    "value_boolean_array": "boolean_array",
}


# -- decoding ----------------------------------------------------------------
def decode_filter(msg: base_pb2.Filters) -> FilterSpec:
    operator = _OPERATORS.get(msg.operator)
    if operator is None:
        raise WeaviateError(f"unsupported filter operator {base_pb2.Filters.Operator.Name(msg.operator)}")
    if operator in ("And", "Or", "Not"):
        return FilterSpec(operator=operator, children=[decode_filter(f) for f in msg.filters])
    if msg.HasField("target"):
        if msg.target.WhichOneof("target") != "property":
            raise WeaviateError("reference filters are not supported by the test server")
        prop = msg.target.property
    else:
        prop = ".".join(msg.on)
    which = msg.WhichOneof("test_value")
    if which is None or which not in _VALUE_KINDS:
        raise WeaviateError(f"filter on {prop!r} has no supported value")
    raw = getattr(msg, which)
    value = list(raw.values) if which.endswith("_array") else raw
    return FilterSpec(operator=operator, prop=prop, value=value, value_kind=_VALUE_KINDS[which])


def decode_properties(props: batch_pb2.BatchObject.Properties) -> dict[str, Any]:
    out: dict[str, Any] = json_format.MessageToDict(props.non_ref_properties)
    for arr in props.text_array_properties:
        out[arr.prop_name] = list(arr.values)
    for arr in props.int_array_properties:
        out[arr.prop_name] = list(arr.values)
    for arr in props.boolean_array_properties:
        out[arr.prop_name] = list(arr.values)
    for arr in props.number_array_properties:
        if arr.values_bytes:
            out[arr.prop_name] = list(struct.unpack(f"<{len(arr.values_bytes) // 8}d", arr.values_bytes))
        else:
            out[arr.prop_name] = list(arr.values)
    if props.object_properties or props.object_array_properties or props.single_target_ref_props:
        raise WeaviateError("object and reference properties are not supported by the test server")
    for name in props.empty_list_props:
        out[name] = []
    return out


def _floats(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def decode_object_vectors(cls: ClassState, obj: batch_pb2.BatchObject) -> dict[str, np.ndarray]:
    vectors = {v.name or "default": _floats(v.vector_bytes) for v in obj.vectors}
    legacy = (
        _floats(obj.vector_bytes) if obj.vector_bytes else (np.asarray(obj.vector, np.float32) if obj.vector else None)
    )
    if legacy is not None:
        if cls.vector_names():
            msg = f"collection {cls.name} has named vectors {cls.vector_names()}; send the vector by name"
            raise WeaviateError(msg)
        vectors[""] = legacy
    return vectors


def _query_vector(msg: base_search_pb2.NearVector | base_search_pb2.Hybrid) -> np.ndarray | None:
    if msg.vector_bytes:
        return _floats(msg.vector_bytes)
    for vec in msg.vectors:
        if vec.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
            raise WeaviateError("multi-vector queries are not supported by the test server")
        return _floats(vec.vector_bytes)
    if msg.vector:
        return np.asarray(msg.vector, dtype=np.float32)
    if isinstance(msg, base_search_pb2.NearVector):
        for target in msg.vector_for_targets:
            return _floats(target.vector_bytes) if target.vector_bytes else _floats(target.vectors[0].vector_bytes)
    return None


def _target(cls: ClassState, *messages: Any) -> str:
    for msg in messages:
        names = list(msg.targets.target_vectors) or list(msg.target_vectors)
        if names:
            if len(names) > 1:
                raise WeaviateError("multi-target vector search is not supported by the test server")
            if names[0] not in cls.vector_names():
                raise WeaviateError(f"target vector {names[0]!r} not found in collection {cls.name}")
            return names[0]
    named = cls.vector_names()
    if len(named) > 1:
        raise WeaviateError(f"multiple vectors configured in {cls.name}; specify the target vector")
    return named[0] if named else ""


# -- encoding ----------------------------------------------------------------
def encode_value(data_type: str, value: Any) -> properties_pb2.Value:
    if data_type.endswith("[]"):
        base = data_type[:-2]
        if base == "int":
            lv = properties_pb2.ListValue(
                int_values=properties_pb2.IntValues(values=struct.pack(f"<{len(value)}q", *value))
            )
        elif base == "number":
            lv = properties_pb2.ListValue(
                number_values=properties_pb2.NumberValues(values=struct.pack(f"<{len(value)}d", *value))
            )
        elif base == "boolean":
            lv = properties_pb2.ListValue(bool_values=properties_pb2.BoolValues(values=value))
        elif base == "date":
            lv = properties_pb2.ListValue(date_values=properties_pb2.DateValues(values=value))
        elif base == "uuid":
            lv = properties_pb2.ListValue(uuid_values=properties_pb2.UuidValues(values=value))
        else:
            lv = properties_pb2.ListValue(text_values=properties_pb2.TextValues(values=value))
        return properties_pb2.Value(list_value=lv)
    if data_type == "int":
        return properties_pb2.Value(int_value=int(value))
    if data_type == "number":
        return properties_pb2.Value(number_value=float(value))
    if data_type == "boolean":
        return properties_pb2.Value(bool_value=bool(value))
    if data_type == "date":
        return properties_pb2.Value(date_value=value)
    if data_type == "uuid":
        return properties_pb2.Value(uuid_value=value)
    return properties_pb2.Value(text_value=str(value))


def encode_result(cls: ClassState, scored: Scored, req: search_get_pb2.SearchRequest, mode: str) -> Any:
    obj = scored.obj
    md_req = req.metadata
    meta = search_get_pb2.MetadataResult(id=obj.uuid, id_as_bytes=uuid_lib.UUID(obj.uuid).bytes)
    if md_req.creation_time_unix:
        meta.creation_time_unix, meta.creation_time_unix_present = obj.created_ms, True
    if md_req.last_update_time_unix:
        meta.last_update_time_unix, meta.last_update_time_unix_present = obj.updated_ms, True
    if scored.distance is not None and md_req.distance:
        meta.distance, meta.distance_present = scored.distance, True
    if scored.distance is not None and md_req.certainty:
        meta.certainty, meta.certainty_present = 1 - scored.distance / 2, True
    if mode in ("bm25", "hybrid"):
        if md_req.score:
            meta.score, meta.score_present = scored.score, True
        if md_req.explain_score:
            meta.explain_score, meta.explain_score_present = scored.explain, True
    wanted = list(obj.vectors) if md_req.vector else list(md_req.vectors)
    for name in wanted:
        vec = obj.vectors.get(name)
        if vec is None:
            continue
        if name == "":
            meta.vector_bytes = vec.astype("<f4").tobytes()
        else:
            meta.vectors.append(
                base_pb2.Vectors(
                    name=name, vector_bytes=vec.astype("<f4").tobytes(), type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32
                )
            )
    props = search_get_pb2.PropertiesResult(target_collection=cls.name)
    # Without a properties request Weaviate returns every non-reference property.
    if not req.HasField("properties") or req.properties.return_all_nonref_properties:
        names = list(obj.properties)
    else:
        names = [n for n in req.properties.non_ref_properties if n in obj.properties]
    for name in names:
        prop = cls.prop(name)
        data_type = prop["dataType"][0] if prop else "text"
        props.non_ref_props.fields[name].CopyFrom(encode_value(data_type, obj.properties[name]))
    return search_get_pb2.SearchResult(properties=props, metadata=meta)


# -- the servicer --------------------------------------------------------------
class WeaviateServicer(weaviate_pb2_grpc.WeaviateServicer):
    """Implements the RPCs the v4 client sends for collections, search, batch and tenants."""

    def __init__(self, server: WeaviateTestServer) -> None:
        self.server = server

    def _run(self, name: str, request: Any, context: grpc.ServicerContext, handler: Callable[[], Any]) -> Any:
        self.server.record("grpc", name, request)
        fault = self.server.take_fault(name)
        if fault is not None:
            context.abort(fault, f"injected {fault.name} for {name}")
        try:
            with self.server.store.lock:
                return handler()
        except WeaviateError as exc:
            code = grpc.StatusCode.NOT_FOUND if exc.status == 404 else grpc.StatusCode.UNKNOWN
            context.abort(code, exc.message)

    # Search --------------------------------------------------------------------
    def Search(self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext) -> Any:
        return self._run("Search", request, context, lambda: self._search(request))

    def _search(self, req: search_get_pb2.SearchRequest) -> search_get_pb2.SearchReply:
        start = time.perf_counter()
        cls = self.server.store.get_class(req.collection)
        shard = self.server.store.shard(cls, req.tenant)
        limit = req.limit or QUERY_DEFAULTS_LIMIT
        maximum = self.server.query_maximum_results
        if req.offset + limit > maximum:
            raise WeaviateError(f"query maximum results exceeded: offset + limit must be at most {maximum}")
        if req.sort_by or req.HasField("group_by") or req.HasField("generative") or req.HasField("rerank"):
            raise WeaviateError("sort, group by, generative and rerank are not supported by the test server")
        allowed = compile_filter(cls, decode_filter(req.filters) if req.HasField("filters") else None)
        window = req.offset + limit
        mode = "fetch"
        if req.HasField("near_vector"):
            mode = "vector"
            vector = _query_vector(req.near_vector)
            if vector is None:
                raise WeaviateError("near_vector search needs a vector")
            max_distance = req.near_vector.distance if req.near_vector.HasField("distance") else None
            if req.near_vector.HasField("certainty"):
                max_distance = 2 * (1 - req.near_vector.certainty)
            target = _target(cls, req.near_vector)
            results = vector_search(cls, shard, vector, target, allowed, window, max_distance=max_distance)
        elif req.HasField("bm25_search"):
            mode = "bm25"
            results = keyword_search(cls, shard, req.bm25_search.query, req.bm25_search.properties, allowed, window)
        elif req.HasField("hybrid_search"):
            mode = "hybrid"
            results = self._hybrid(cls, req.hybrid_search, shard, allowed, window)
        elif req.after:
            if req.HasField("filters") or req.offset:
                raise WeaviateError("a cursor (after) cannot be combined with filters, offset or search")
            ordered = sorted(shard.objects.values(), key=lambda o: uuid_lib.UUID(o.uuid))
            cursor = uuid_lib.UUID(req.after)
            results = [Scored(obj=o) for o in ordered if uuid_lib.UUID(o.uuid) > cursor]
        elif not req.HasField("filters"):
            # a plain listing walks the objects bucket, which Weaviate keys by uuid: the order the
            # ``after`` cursor continues from
            results = [Scored(obj=o) for o in sorted(shard.objects.values(), key=lambda o: uuid_lib.UUID(o.uuid))]
        else:
            results = [Scored(obj=o) for o in shard.objects.values() if allowed(o)]
        page = results[req.offset : req.offset + limit]
        return search_get_pb2.SearchReply(
            took=time.perf_counter() - start, results=[encode_result(cls, s, req, mode) for s in page]
        )

    def _hybrid(
        self,
        cls: ClassState,
        hybrid: base_search_pb2.Hybrid,
        shard: Any,
        allowed: Callable[[StoredObject], bool],
        window: int,
    ) -> list[Scored]:
        alpha = hybrid.alpha
        if hybrid.use_alpha_param:
            alpha = hybrid.alpha_param if hybrid.HasField("alpha_param") else 0.75
        fusion = "ranked" if hybrid.fusion_type == base_search_pb2.Hybrid.FUSION_TYPE_RANKED else "relativeScore"
        sub_limit = max(HYBRID_SUB_LIMIT, window)
        vector_results: list[Scored] = []
        if alpha > 0:
            vector = _query_vector(hybrid)
            nested = hybrid.near_vector if hybrid.HasField("near_vector") else None
            if vector is None and nested is not None:
                vector = _query_vector(nested)
            if vector is None:
                raise WeaviateError("hybrid search with alpha > 0 needs a vector: the collection has no vectorizer")
            targets = [hybrid] if nested is None else [hybrid, nested]
            max_distance = hybrid.vector_distance if hybrid.HasField("vector_distance") else None
            target = _target(cls, *targets)
            vector_results = vector_search(cls, shard, vector, target, allowed, sub_limit, max_distance=max_distance)
        keyword_results: list[Scored] = []
        if alpha < 1 and hybrid.query:
            keyword_results = keyword_search(cls, shard, hybrid.query, hybrid.properties, allowed, sub_limit)
        return fuse(vector_results, keyword_results, alpha, fusion)[:window]

    # Batch ---------------------------------------------------------------------
    def BatchObjects(self, request: batch_pb2.BatchObjectsRequest, context: grpc.ServicerContext) -> Any:
        return self._run("BatchObjects", request, context, lambda: self._batch_objects(request))

    def _batch_objects(self, req: batch_pb2.BatchObjectsRequest) -> batch_pb2.BatchObjectsReply:
        start = time.perf_counter()
        errors = []
        store = self.server.store
        for index, obj in enumerate(req.objects):
            try:
                injected = self.server.fail_uuids.get(obj.uuid)
                if injected is not None:
                    raise WeaviateError(injected)
                cls = store.get_class(obj.collection)
                properties = decode_properties(obj.properties)
                store.put_object(cls, obj.tenant, obj.uuid, properties, decode_object_vectors(cls, obj))
            except WeaviateError as exc:
                errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=exc.message))
        return batch_pb2.BatchObjectsReply(took=time.perf_counter() - start, errors=errors)

    def BatchDelete(self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.ServicerContext) -> Any:
        return self._run("BatchDelete", request, context, lambda: self._batch_delete(request))

    def _batch_delete(self, req: batch_delete_pb2.BatchDeleteRequest) -> batch_delete_pb2.BatchDeleteReply:
        start = time.perf_counter()
        cls = self.server.store.get_class(req.collection)
        shard = self.server.store.shard(cls, req.tenant if req.HasField("tenant") else "")
        if not req.HasField("filters"):
            raise WeaviateError("batch delete needs a filter")
        allowed = compile_filter(cls, decode_filter(req.filters))
        matched = [o for o in shard.objects.values() if allowed(o)][: self.server.query_maximum_results]
        if not req.dry_run:
            for obj in matched:
                del shard.objects[obj.uuid]
        objects = (
            [batch_delete_pb2.BatchDeleteObject(uuid=uuid_lib.UUID(o.uuid).bytes, successful=True) for o in matched]
            if req.verbose
            else []
        )
        return batch_delete_pb2.BatchDeleteReply(
            took=time.perf_counter() - start,
            matches=len(matched),
            successful=0 if req.dry_run else len(matched),
            failed=0,
            objects=objects,
        )

    def BatchReferences(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unimplemented("BatchReferences", request, context)

    def BatchStream(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        return self._unimplemented("BatchStream", None, context)

    def _unimplemented(self, name: str, request: Any, context: grpc.ServicerContext) -> Any:
        self.server.record("grpc", name, request)
        self.server.unimplemented.append(f"grpc {name}")
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not implemented by the test server")

    # Tenants and aggregate -----------------------------------------------------
    def TenantsGet(self, request: tenants_pb2.TenantsGetRequest, context: grpc.ServicerContext) -> Any:
        return self._run("TenantsGet", request, context, lambda: self._tenants_get(request))

    def _tenants_get(self, req: tenants_pb2.TenantsGetRequest) -> tenants_pb2.TenantsGetReply:
        cls = self.server.store.get_class(req.collection)
        if not cls.multi_tenant:
            raise WeaviateError(f"multi-tenancy is not enabled for class {cls.name!r}")
        names = list(req.names.values) if req.HasField("names") else list(cls.shards)
        tenants = [
            tenants_pb2.Tenant(name=name, activity_status=tenants_pb2.TENANT_ACTIVITY_STATUS_HOT)
            for name in names
            if name in cls.shards
        ]
        return tenants_pb2.TenantsGetReply(tenants=tenants)

    def Aggregate(self, request: aggregate_pb2.AggregateRequest, context: grpc.ServicerContext) -> Any:
        return self._run("Aggregate", request, context, lambda: self._aggregate(request))

    def _aggregate(self, req: aggregate_pb2.AggregateRequest) -> aggregate_pb2.AggregateReply:
        start = time.perf_counter()
        cls = self.server.store.get_class(req.collection)
        shard = self.server.store.shard(cls, req.tenant)
        if req.aggregations or req.HasField("group_by") or req.WhichOneof("search"):
            raise WeaviateError("only objects_count aggregation is supported by the test server")
        allowed = compile_filter(cls, decode_filter(req.filters) if req.HasField("filters") else None)
        single = aggregate_pb2.AggregateReply.Single()
        if req.objects_count:
            single.objects_count = sum(1 for o in shard.objects.values() if allowed(o))
        return aggregate_pb2.AggregateReply(took=time.perf_counter() - start, single_result=single)


def health_handler(server: WeaviateTestServer) -> grpc.GenericRpcHandler:
    """``/grpc.health.v1.Health/Check``, which the client pings on connect."""

    def check(request: Any, context: grpc.ServicerContext) -> Any:
        server.record("grpc", "HealthCheck", request)
        fault = server.take_fault("HealthCheck")
        if fault is not None:
            context.abort(fault, "injected fault")
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    handler = grpc.unary_unary_rpc_method_handler(
        check,
        request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
        response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler})


__all__ = ["WeaviateServicer", "decode_filter", "health_handler"]
