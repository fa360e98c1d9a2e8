"""The custom model server the article's team wanted to keep: FastAPI +
uvicorn + python xgboost, with pydantic request models, written as such a
team would write it. It speaks the V2 infer request shape so that the same
wrk script drives it and skiff.

    python3 fastapi_server.py MODEL.json PORT
"""
import sys
from typing import Any, Dict, List, Optional, Union

import numpy as np
import uvicorn
import xgboost as xgb
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

MODEL_PATH = sys.argv[1] if len(sys.argv) > 1 else "model.json"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8000

booster = xgb.Booster()
booster.load_model(MODEL_PATH)
app = FastAPI()


class InferInput(BaseModel):
    name: str
    shape: List[int]
    datatype: str
    data: List[Any]
    parameters: Optional[Dict[str, Any]] = None


class InferRequest(BaseModel):
    id: Optional[str] = None
    inputs: List[InferInput]
    parameters: Optional[Dict[str, Any]] = None


class InferOutput(BaseModel):
    name: str
    shape: List[int]
    datatype: str
    data: List[float]


class InferResponse(BaseModel):
    model_name: str
    id: Optional[str] = None
    outputs: List[InferOutput]


@app.get("/v2/health/live")
def live():
    return {"live": True}


@app.post("/v2/models/{name}/infer", response_model=InferResponse)
def infer(name: str, req: InferRequest):
    inp = req.inputs[0]
    try:
        x = np.asarray(inp.data, dtype=np.float32).reshape(inp.shape)
    except ValueError as e:
        raise HTTPException(status_code=400, detail=str(e))
    if x.ndim == 1:
        x = x.reshape(1, -1)
    y = booster.inplace_predict(x)
    return InferResponse(model_name=name, id=req.id,
                         outputs=[InferOutput(name="output-0", shape=[len(y)], datatype="FP64",
                                              data=y.astype(float).tolist())])


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)
