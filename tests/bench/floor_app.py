"""The floor: a bare FastAPI app with one JSON route, served like ours (`bench_floor.py`)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/v1/version")
async def version() -> dict[str, str]:
    return {"version": "1.0.0"}
