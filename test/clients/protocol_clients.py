"""Independent clients of the bundle server's wire protocols, as the real clients speak them.

Messages come from the bundle's own .proto files compiled here with protoc --python_out; calls go
through requests (HTTP) and grpc's generic unary_unary (no grpc_tools needed). Prints one JSON
object: for every case the value or error the server gave, for the test to assert.

    python3 protocol_clients.py HTTP_BASE GRPC_TARGET PROTO_DIR WORK_DIR
"""
import gzip
import json
import struct
import subprocess
import sys
import zlib

import grpc
import requests

base, target, proto_dir, work = sys.argv[1:5]
subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={work}", "general_model_service.proto", "pipeline_service.proto", "grpc_predict_v2.proto"], check=True)
sys.path.insert(0, work)
import general_model_service_pb2 as gms  # noqa: E402
import grpc_predict_v2_pb2 as kv2  # noqa: E402
import pipeline_service_pb2 as pipe  # noqa: E402

X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332]
out = {}


def case(name):
    def wrap(fn):
        try:
            out[name] = fn()
        except Exception as e:  # the test shows which case failed and why
            out[name] = {"exception": f"{type(e).__name__}: {e}"}
        return fn
    return wrap


# ---- Paddle Serving C++ HttpClient: /GeneralModelService/inference
def general_request(rows=1, fetch=("price",)):
    req = gms.Request(fetch_var_names=list(fetch), log_id=7)
    req.tensor.add(float_data=X * rows, elem_type=1, shape=[rows, 13], name="x", alias_name="x")
    return req


@case("general_proto")
def _():
    r = requests.post(f"{base}/GeneralModelService/inference", data=general_request().SerializeToString(), headers={"Content-Type": "application/proto"})
    res = gms.Response.FromString(r.content)
    t = res.outputs[0].tensor[0]
    return {"status": r.status_code, "type": r.headers.get("Content-Type"), "value": t.float_data[0], "shape": list(t.shape),
            "alias": t.alias_name, "name": t.name, "elem_type": t.elem_type, "engine": res.outputs[0].engine_name, "log_id": res.log_id,
            # the server's bytes are exactly what protobuf's own serializer writes for that message
            "canonical": res.SerializeToString() == r.content}


@case("general_json")
def _():
    # HttpClient's JSON mode: proto field names, no Content-Type header at all
    body = json.dumps({"tensor": [{"float_data": X, "elem_type": 1, "shape": [1, 13], "name": "x", "alias_name": "x"}], "fetch_var_names": ["price"], "log_id": 0})
    r = requests.post(f"{base}/GeneralModelService/inference", data=body)
    j = r.json()
    return {"status": r.status_code, "value": j["outputs"][0]["tensor"][0]["float_data"][0], "engine": j["outputs"][0]["engine_name"]}


@case("general_all_fetches")
def _():
    r = requests.post(f"{base}/GeneralModelService/inference", data=general_request(fetch=()).SerializeToString(), headers={"Content-Type": "application/proto"})
    res = gms.Response.FromString(r.content)
    return {"aliases": [t.alias_name for t in res.outputs[0].tensor]}


@case("general_gzip")
def _():
    # over 512 bytes of data: HttpClient gzips the request and asks for a gzip reply
    rows = 64
    body = json.dumps({"tensor": [{"float_data": X * rows, "elem_type": 1, "shape": [rows, 13], "name": "x", "alias_name": "x"}], "fetch_var_names": ["price"]})
    r = requests.post(f"{base}/GeneralModelService/inference", data=gzip.compress(body.encode()), headers={"Content-Encoding": "gzip", "Accept-encoding": "gzip"})
    j = r.json()
    vals = j["outputs"][0]["tensor"][0]["float_data"]
    return {"status": r.status_code, "encoding": r.headers.get("Content-Encoding"), "rows": len(vals), "value": vals[0], "last": vals[-1]}


@case("general_proto_gzip")
def _():
    r = requests.post(f"{base}/GeneralModelService/inference", data=gzip.compress(general_request(rows=200).SerializeToString()),
                      headers={"Content-Type": "application/proto", "Content-Encoding": "gzip", "Accept-encoding": "gzip"})
    res = gms.Response.FromString(r.content)
    return {"status": r.status_code, "type": r.headers.get("Content-Type"), "encoding": r.headers.get("Content-Encoding"), "rows": len(res.outputs[0].tensor[0].float_data), "value": res.outputs[0].tensor[0].float_data[199]}


@case("general_bad_proto")
def _():
    r = requests.post(f"{base}/GeneralModelService/inference", data=b"\x0a\xff\xff\xff\x0f garbage", headers={"Content-Type": "application/proto"})
    res = gms.Response.FromString(r.content)
    return {"status": r.status_code, "type": r.headers.get("Content-Type"), "err_no": res.err_no, "err_msg": res.err_msg}


@case("general_too_big")
def _():
    req = gms.Request()
    req.tensor.add(float_data=[0.5] * 300000, elem_type=1, shape=[300000 // 13, 13], alias_name="x")
    r = requests.post(f"{base}/GeneralModelService/inference", data=req.SerializeToString(), headers={"Content-Type": "application/proto"})
    res = gms.Response.FromString(r.content)
    return {"status": r.status_code, "type": r.headers.get("Content-Type"), "err_msg": res.err_msg}


@case("general_bad_alias")
def _():
    body = json.dumps({"tensor": [{"float_data": X, "elem_type": 1, "shape": [1, 13], "alias_name": "nope"}]})
    r = requests.post(f"{base}/GeneralModelService/inference", data=body)
    return {"status": r.status_code, **r.json()}


@case("general_bad_count")
def _():
    req = gms.Request()
    req.tensor.add(float_data=X[:5], elem_type=1, shape=[1, 13], alias_name="x")
    r = requests.post(f"{base}/GeneralModelService/inference", data=req.SerializeToString(), headers={"Content-Type": "application/proto"})
    res = gms.Response.FromString(r.content)
    return {"status": r.status_code, "err_no": res.err_no, "err_msg": res.err_msg}


# ---- pipeline HTTP as upstream's examples send it
TEXT = ", ".join(str(v) for v in X)


@case("pipeline_comma")
def _():
    r = requests.post(f"{base}/uci/prediction", json={"key": ["x"], "value": [TEXT]})
    j = r.json()
    return {"status": r.status_code, "err_no": j["err_no"], "value": json.loads(j["value"][0])[0][0]}


@case("pipeline_rows")
def _():
    r = requests.post(f"{base}/uci/any_method", json={"key": ["x"], "value": [TEXT + "; " + TEXT]})
    j = r.json()
    return {"status": r.status_code, "err_no": j["err_no"], "values": [row[0] for row in json.loads(j["value"][0])]}


@case("pipeline_bad")
def _():
    r = requests.post(f"{base}/uci/prediction", json={"key": ["x"], "value": ["0.1, oops"]})
    return {"status": r.status_code, **r.json()}


@case("pipeline_bad_service")
def _():
    r = requests.post(f"{base}/nosuch/prediction", json={"key": ["x"], "value": [TEXT]})
    return {"status": r.status_code, **r.json()}


# ---- gRPC
channel = grpc.insecure_channel(target)


def call(path, req_cls, res_cls, msg, raw=None):
    fn = channel.unary_unary(path, request_serializer=(lambda b: b) if raw is not None else req_cls.SerializeToString, response_deserializer=res_cls.FromString)
    return fn(raw if raw is not None else msg, timeout=20)


PIPE = "/baidu.paddle_serving.pipeline_serving.PipelineService/inference"


@case("pipeline_grpc")
def _():
    res = call(PIPE, pipe.Request, pipe.Response, pipe.Request(key=["x"], value=[TEXT], name="uci", method="prediction", logid=1))
    return {"err_no": res.err_no, "key": list(res.key), "value": json.loads(res.value[0])[0][0]}


@case("pipeline_grpc_tensors")
def _():
    req = pipe.Request(name="uci", method="prediction")
    req.tensors.add(float_data=X, elem_type=1, shape=[1, 13], name="x")
    res = call(PIPE, pipe.Request, pipe.Response, req)
    t = res.tensors[0]
    return {"err_no": res.err_no, "name": t.name, "shape": list(t.shape), "value": t.float_data[0]}


@case("pipeline_grpc_bad")
def _():
    res = call(PIPE, pipe.Request, pipe.Response, pipe.Request(key=["x"], value=["1, 2"], name="uci"))
    bad_name = call(PIPE, pipe.Request, pipe.Response, pipe.Request(key=["x"], value=[TEXT], name="other"))
    garbage = call(PIPE, pipe.Request, pipe.Response, None, raw=b"\x12\xff\xff\xff\xff\x0f")
    return {"err_no": res.err_no, "err_msg": res.err_msg, "bad_name": bad_name.err_no, "garbage": garbage.err_no, "garbage_msg": garbage.err_msg}


@case("general_grpc")
def _():
    # brpc serves GeneralModelService over gRPC too
    res = call("/baidu.paddle_serving.predictor.general_model.GeneralModelService/inference", gms.Request, gms.Response, general_request())
    bad = gms.Request()
    bad.tensor.add(float_data=X, elem_type=1, shape=[1, 13], alias_name="nope")
    err = call("/baidu.paddle_serving.predictor.general_model.GeneralModelService/inference", gms.Request, gms.Response, bad)
    return {"value": res.outputs[0].tensor[0].float_data[0], "engine": res.outputs[0].engine_name, "bad_err_no": err.err_no, "bad_msg": err.err_msg}


KS = "/inference.GRPCInferenceService/"


def kcall(name, msg, raw=None):
    return call(KS + name, getattr(kv2, name + "Request"), getattr(kv2, name + "Response"), msg, raw)


@case("kserve_grpc_meta")
def _():
    md = kcall("ModelMetadata", kv2.ModelMetadataRequest(name="uci"))
    sm = kcall("ServerMetadata", kv2.ServerMetadataRequest())
    return {"live": kcall("ServerLive", kv2.ServerLiveRequest()).live, "ready": kcall("ServerReady", kv2.ServerReadyRequest()).ready,
            "model_ready": kcall("ModelReady", kv2.ModelReadyRequest(name="uci")).ready,
            "extensions": list(sm.extensions), "inputs": [[t.name, t.datatype, list(t.shape)] for t in md.inputs],
            "outputs": [[t.name, t.datatype, list(t.shape)] for t in md.outputs]}


@case("kserve_grpc_infer")
def _():
    req = kv2.ModelInferRequest(model_name="uci", id="r1")
    req.inputs.add(name="x", datatype="FP32", shape=[1, 13])
    req.outputs.add(name="price")
    req.raw_input_contents.append(struct.pack("<13f", *X))
    raw = channel.unary_unary(KS + "ModelInfer", request_serializer=kv2.ModelInferRequest.SerializeToString, response_deserializer=lambda b: b)(req, timeout=20)
    res = kv2.ModelInferResponse.FromString(raw)
    o = res.outputs[0]
    return {"name": o.name, "datatype": o.datatype, "shape": list(o.shape), "id": res.id, "value": struct.unpack("<f", res.raw_output_contents[0])[0],
            "canonical": res.SerializeToString() == raw}


@case("kserve_grpc_typed")
def _():
    req = kv2.ModelInferRequest(model_name="uci")
    req.inputs.add(name="x", datatype="FP32", shape=[1, 13]).contents.fp32_contents.extend(X)
    res = kcall("ModelInfer", req)
    return {"value": struct.unpack("<f", res.raw_output_contents[0])[0]}


def grpc_error(fn):
    try:
        fn()
        return {"code": "OK"}
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}


@case("kserve_grpc_bad")
def _():
    def wrong_size():
        req = kv2.ModelInferRequest(model_name="uci")
        req.inputs.add(name="x", datatype="FP32", shape=[1, 13])
        req.raw_input_contents.append(b"\x00" * 12)
        kcall("ModelInfer", req)

    def wrong_type():
        req = kv2.ModelInferRequest(model_name="uci")
        req.inputs.add(name="x", datatype="INT64", shape=[1, 13])
        req.raw_input_contents.append(b"\x00" * 104)
        kcall("ModelInfer", req)
    return {
        "unknown_model": grpc_error(lambda: kcall("ModelInfer", kv2.ModelInferRequest(model_name="nope"))),
        "bad_version": grpc_error(lambda: kcall("ModelReady", kv2.ModelReadyRequest(name="uci", version="9"))),
        "wrong_size": grpc_error(wrong_size),
        "wrong_type": grpc_error(wrong_type),
        "garbage": grpc_error(lambda: kcall("ModelInfer", None, raw=b"\x2a\x05\x0a\xff\xff")),
        # over the server's body limit (the test starts it with --max-body-bytes 1000000)
        "too_big": grpc_error(lambda: kcall("ModelInfer", kv2.ModelInferRequest(model_name="uci", raw_input_contents=[b"\x00" * 2000000]))),
    }


# ---- KServe REST: binary tensor data extension, compression
def binary_request(header, data, **headers):
    h = json.dumps(header).encode()
    return requests.post(f"{base}/v2/models/uci/infer", data=h + data, headers={"Inference-Header-Content-Length": str(len(h)), "Content-Type": "application/octet-stream", **headers})


def read_binary(r):
    n = int(r.headers["Inference-Header-Content-Length"])
    head = json.loads(r.content[:n])
    return head, r.content[n:]


@case("kserve_binary")
def _():
    raw = struct.pack("<13f", *X)
    r = binary_request({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}],
                        "outputs": [{"name": "price", "parameters": {"binary_data": True}}]}, raw)
    head, rest = read_binary(r)
    o = head["outputs"][0]
    return {"status": r.status_code, "type": r.headers.get("Content-Type"), "size": o["parameters"]["binary_data_size"], "shape": o["shape"], "value": struct.unpack("<f", rest)[0]}


@case("kserve_binary_in_json_out")
def _():
    raw = struct.pack("<13f", *X)
    r = binary_request({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}]}, raw)
    return {"status": r.status_code, "type": r.headers.get("Content-Type"), "value": r.json()["outputs"][0]["data"][0]}


@case("kserve_binary_gzip")
def _():
    rows = 200
    raw = struct.pack(f"<{13 * rows}f", *(X * rows))
    h = json.dumps({"inputs": [{"name": "x", "shape": [rows, 13], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}],
                    "parameters": {"binary_data_output": True}}).encode()
    r = requests.post(f"{base}/v2/models/uci/infer", data=zlib.compress(h + raw), headers={"Inference-Header-Content-Length": str(len(h)), "Content-Encoding": "deflate", "Accept-Encoding": "gzip"})
    head, rest = read_binary(r)
    return {"status": r.status_code, "encoding": r.headers.get("Content-Encoding"), "rows": len(rest) // 4, "value": struct.unpack("<f", rest[-4:])[0]}


@case("kserve_json_gzip")
def _():
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "data": X}]}).encode()
    r = requests.post(f"{base}/v2/models/uci/infer", data=gzip.compress(body), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    return {"status": r.status_code, "value": r.json()["outputs"][0]["data"][0]}


@case("kserve_rest_bad")
def _():
    raw = struct.pack("<13f", *X)
    h = b'{"inputs":[]}'
    too_long = requests.post(f"{base}/v2/models/uci/infer", data=h, headers={"Inference-Header-Content-Length": "999"})
    short = binary_request({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "parameters": {"binary_data_size": 400}}]}, raw)
    extra = binary_request({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "parameters": {"binary_data_size": 52}}]}, raw + b"\x00\x00\x00\x00")
    bad_gzip = requests.post(f"{base}/v2/models/uci/infer", data=b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    version = requests.get(f"{base}/v2/models/uci/versions/3")
    return {k: {"status": r.status_code, **r.json()} for k, r in {"too_long": too_long, "short": short, "extra": extra, "bad_gzip": bad_gzip, "version": version}.items()}


@case("triton_extras")
def _():
    meta = requests.get(f"{base}/v2").json()
    cfg = requests.get(f"{base}/v2/models/uci/config").json()
    st = requests.get(f"{base}/v2/models/uci/stats").json()
    allst = requests.get(f"{base}/v2/models/stats").json()
    return {"extensions": meta["extensions"], "config": cfg, "stats": st["model_stats"][0], "all": len(allst["model_stats"])}


print(json.dumps(out))
