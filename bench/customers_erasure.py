"""The cost of a forensic erasure: `DELETE /clientes/{id}`'s use case (re-wrap the epoch-mates'
data keys under a fresh epoch key, destroy the old one in the KMS), by epoch capacity.

    .venv/bin/python bench/customers_erasure.py                          # capacities 100,1000
    .venv/bin/python bench/customers_erasure.py --capacity 1000,5000 --erasures 20

In-process, against an embedded PostgreSQL (pgserver) and the file KMS: for each capacity, one
full epoch of customers is created through the real service, then `--erasures` of them are
erased one after the other (each re-keys the rest of the epoch). Prints p50/p99/max of an
erasure and the cost per re-wrapped key. The derived copies (events, bus, lake) are the
`customers.activity` sink's work and are not included.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import _support as bench


async def run(capacity: int, erasures: int) -> None:
    from caudal.bus.adapters import build_bus
    from caudal.customers import context
    from caudal.customers.audit import Actor
    from caudal.customers.base_a import service
    from caudal.customers.cpf import format_cpf, with_check_digits
    from caudal.customers.validation import Cliente
    from caudal.platform.bootstrap import bootstrap
    from caudal.platform.settings import CustomersSettings, Settings

    with bench.embedded_database() as (_, home, owner_url):
        from pydantic import SecretStr

        settings = Settings(
            home=home,
            database_url=SecretStr(owner_url),
            customers=CustomersSettings(epoch_capacity=capacity),
        )
        container = bootstrap(settings, bus=build_bus, migrate=False, configure_logging=False)
        await container.database.open()
        try:
            customers = context.build(container)
            actor = Actor("bench", None)
            ids = []
            began = time.perf_counter()
            for n in range(capacity):
                body = Cliente.model_validate(
                    {
                        "nome": f"Cliente {n}",
                        "cpf": format_cpf(with_check_digits(f"{200_000_000 + n:09d}")),
                        "data_nascimento": "1980-01-01",
                        "sexo": "F",
                        "estado_civil": "solteira",
                        "endereco": {
                            "uf": "SP",
                            "cidade": "São Paulo",
                            "bairro": "Centro",
                            "longadouro": "Rua A",
                            "numero": 1,
                            "complemento": "",
                        },
                        "dividas": [],
                    }
                )
                ids.append((await service.upsert(customers, actor, body))[1])
            created = time.perf_counter() - began
            timings = []
            for customer_id in ids[:erasures]:
                start = time.perf_counter()
                await service.erase(customers, actor, customer_id)
                timings.append(time.perf_counter() - start)
        finally:
            await container.database.close()
    ms = sorted(t * 1000 for t in timings)
    mates = capacity - 1 - erasures // 2  # mean epoch-mates re-wrapped per erasure
    print(
        f"capacity {capacity:>6}: create {capacity / created:,.0f} customers/s; erase "
        f"p50 {bench.pct(ms, 0.5):.1f} ms, p99 {bench.pct(ms, 0.99):.1f} ms, max {ms[-1]:.1f} ms "
        f"({bench.pct(ms, 0.5) * 1000 / max(mates, 1):.1f} µs per re-wrapped key)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", default="100,1000", help="epoch capacities to measure")
    parser.add_argument("--erasures", type=int, default=20)
    args = parser.parse_args()
    print(f"load average: {bench.load_average()}")
    for capacity in (int(c) for c in args.capacity.split(",")):
        asyncio.run(run(capacity, min(args.erasures, capacity)))
    print(f"load average: {bench.load_average()}")


if __name__ == "__main__":
    main()
