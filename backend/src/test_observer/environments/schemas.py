"""Wire shapes of environments."""

from pydantic import BaseModel, ConfigDict


class EnvironmentResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    architecture: str
