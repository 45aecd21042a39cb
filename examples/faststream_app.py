"""A FastStream app of your own that also serves a workflow function (WorkerRouter).

It serves the seed's `sendPersonalizedEmail` (examples/onboarding_functions.py) next to
whatever else the app subscribes to; the engine forwards that step's commands to it.

    .venv/bin/python -m examples.faststream_app            # WORKFLOWS_KAFKA_BOOTSTRAP, ...
    .venv/bin/python -m examples.faststream_app --asyncapi # its AsyncAPI document (YAML)
"""

from __future__ import annotations

import asyncio
import sys

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from examples.onboarding_functions import send_personalized_email
from workflows import FunctionRegistry
from workflows.faststream_worker import WorkerRouter
from workflows.services.infra.settings import Settings

functions = FunctionRegistry()
functions.register(send_personalized_email, "sendPersonalizedEmail")

settings = Settings()  # WORKFLOWS_KAFKA_BOOTSTRAP, WORKFLOWS_TOPIC_PREFIX, ...
broker = KafkaBroker(settings.kafka_bootstrap)
router = WorkerRouter(functions, settings=settings)
broker.include_router(router)
app = FastStream(broker, on_startup=[router.create_topics])


@broker.subscriber("shop.orders", group_id="shop")  # the app's own subscribers live beside it
async def on_order(order: dict[str, str]) -> None:
    print("order", order)


if __name__ == "__main__":
    if "--asyncapi" in sys.argv:
        print(AsyncAPI(broker, title="shop", schema_version="3.0.0").to_specification().to_yaml())
    else:
        asyncio.run(app.run())
