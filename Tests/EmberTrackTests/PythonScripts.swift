/// Check scripts run by the real-reader tests. Each reads what Swift wrote with the official Python reader and
/// writes a JSON summary to $OUT_PATH; the Swift tests make the assertions.
enum PythonScripts {
    /// argv[1]: a run folder. Reads it with TensorBoard's EventAccumulator; decodes images with Pillow.
    static let tensorboard = #"""
import json, os, sys, io, glob
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util
files = glob.glob(os.path.join(sys.argv[1], "*"))
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0, "histograms": 0, "images": 0})
ea.Reload()
tags = ea.Tags()
out = {"files": [os.path.basename(f) for f in files], "file_version": ea.file_version, "scalars": {}, "tensors": {},
       "histograms": {}, "images": {}}
for t in tags["scalars"]:
    out["scalars"][t] = [[e.step, e.value] for e in ea.Scalars(t)]
for t in tags["tensors"]:
    evs = ea.Tensors(t)
    out["tensors"][t] = [[e.step, float(tensor_util.make_ndarray(e.tensor_proto))] for e in evs]
    meta = ea.SummaryMetadata(t)
    out["tensors"][t + "#plugin"] = meta.plugin_data.plugin_name
for t in tags["histograms"]:
    out["histograms"][t] = [{"step": e.step, "num": e.histogram_value.num, "min": e.histogram_value.min,
                             "max": e.histogram_value.max, "sum": e.histogram_value.sum,
                             "bucket_limit": list(e.histogram_value.bucket_limit), "bucket": list(e.histogram_value.bucket)}
                            for e in ea.Histograms(t)]
from PIL import Image
for t in tags["images"]:
    rows = []
    for e in ea.Images(t):
        im = Image.open(io.BytesIO(e.encoded_image_string)); im.load()
        rows.append({"step": e.step, "width": e.width, "height": e.height, "mode": im.mode, "size": list(im.size),
                     "pixels": list(im.getdata())[:16] if im.size[0] * im.size[1] <= 64 else []})
    out["images"][t] = rows
json.dump(out, open(os.environ["OUT_PATH"], "w"))
"""#

    /// argv[1]: tracking URI, argv[2]: run id. Reads the run with MLflow's own client.
    static let mlflow = #"""
import json, os, sys
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"   # file stores are refused without it since mlflow 3.13
import mlflow
from mlflow.tracking import MlflowClient
uri, run_id = sys.argv[1], sys.argv[2]
c = MlflowClient(tracking_uri=uri)
r = c.get_run(run_id)
exp = c.get_experiment(r.info.experiment_id)
def walk(path=None):
    out = []
    for a in c.list_artifacts(run_id, path):
        out += walk(a.path) if a.is_dir else [[a.path, a.file_size]]
    return out
# repr() strings: exact doubles, whatever the JSON parser on the Swift side does with numbers
history = {k: [[m.step, repr(m.value)] for m in c.get_metric_history(run_id, k)] for k in r.data.metrics}
arts = walk()
content = {}
for p, _ in arts:
    if p.endswith(".txt"):
        local = c.download_artifacts(run_id, p, dst_path=os.path.dirname(os.environ["OUT_PATH"]))
        content[p] = open(local).read()
mlflow.set_tracking_uri(uri)
found = mlflow.search_runs(experiment_names=[exp.name], filter_string="metrics.loss < 10", output_format="list")
json.dump({"status": r.info.status, "run_name": r.info.run_name, "experiment": exp.name,
           "params": r.data.params, "tags": r.data.tags, "metrics": r.data.metrics, "history": history,
           "artifacts": arts, "content": content, "search": [x.info.run_id for x in found],
           "start": r.info.start_time, "end": r.info.end_time}, open(os.environ["OUT_PATH"], "w"))
"""#
}
