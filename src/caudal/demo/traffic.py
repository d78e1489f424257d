"""What the demo sends: seed-shaped payloads drawn from a seeded random generator (pure)."""

from __future__ import annotations

import random
import string
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

PLATFORMS = ("Android", "iOS")
CLICKS = (
    "click_button_help",
    "click_button_next",
    "click_button_pix",
    "click_card_details",
    "click_invest_savings",
    "click_open_statement",
)
BRANDS = ("Visa", "Mastercard", "Elo")
PRODUCTS = (
    ("Fone de ouvido", "eletronicos"),
    ("Tênis de corrida", "esporte"),
    ("Cafeteira", "casa"),
    ("Livro", "livraria"),
    ("Passagem aérea", "viagem"),
)
COMPANIES = (("Banco Azul", "banco"), ("Loja Rede", "varejo"), ("Financeira Sol", "financeira"))
FIRST = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Hugo", "Iara", "João")
LAST = ("Silva", "Souza", "Oliveira", "Santos", "Lima", "Pereira", "Costa", "Almeida")
CITIES = (
    ("SP", "São Paulo", "Pinheiros"),
    ("RJ", "Rio de Janeiro", "Botafogo"),
    ("MG", "Belo Horizonte", "Savassi"),
    ("PE", "Recife", "Boa Viagem"),
)


def offset_timestamp(moment: datetime) -> str:
    """Seed 000's format: `2020-10-12T20:01:14-0300` (São Paulo time, no colon)."""
    local = moment.astimezone(UTC) - timedelta(hours=3)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + "-0300"


def cpf(rng: random.Random) -> str:
    """A CPF with valid check digits (never all digits equal)."""
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        if len(set(digits)) > 1:
            break
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(size + 1, 1, -1), strict=True))
        check = (total * 10) % 11
        digits.append(0 if check == 10 else check)
    return "".join(map(str, digits))


def device_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=17))


CART_USERS = 10  # FakeStore's users 1-10, so the user-carts pipeline can read the lake
CART_PRODUCTS = 20  # FakeStore's products 1-20 (the catalogue the pipeline prices them with)
CART_SHARE = 0.15  # of the frontend items


def add_to_cart(rng: random.Random, user_id: int) -> dict[str, Any]:
    """Seed 004's cart line as a frontend event (read by `--source lake`)."""
    return {
        "event_id": "add_to_cart",
        "userId": user_id,
        "productId": rng.randrange(CART_PRODUCTS) + 1,
        "quantity": rng.randint(1, 3),
        "cartId": 1000 + user_id,
    }


def frontend(
    rng: random.Random, device: tuple[str, str], now: datetime, n: int, user_id: int = 1
) -> dict[str, Any]:
    """Clicks, and now and then an `add_to_cart` by the device's (stable) user."""
    platform, dev = device
    items: list[dict[str, Any]] = []
    for _ in range(n):
        stamp = offset_timestamp(now - timedelta(milliseconds=rng.randrange(900)))
        item = (
            add_to_cart(rng, user_id)
            if rng.random() < CART_SHARE
            else {"event_id": rng.choice(CLICKS)}
        )
        items.append({"timestamp": stamp, **item})
    return {"device": {"platform": platform, "deviceId": dev}, "data": items}


def _money(rng: random.Random, low: int, high: int) -> str:
    return str(Decimal(rng.randrange(low * 100, high * 100)) / 100)


def backend(rng: random.Random, kind: str, now: datetime, person: str) -> dict[str, Any]:
    """Seed 000's backend envelope around seed 002's blocks (field names exactly as the seeds)."""
    day = now.date().isoformat()
    data: dict[str, Any]
    if kind == "selfie-uploaded":
        data = {"selfield": uuid.UUID(int=rng.getrandbits(128)).hex[:12]}
    elif kind == "document-uploaded":
        data = {"documentId": "".join(rng.choices(string.ascii_letters + string.digits, k=22))}
    elif kind == "card-purchase":
        produto, tipo = rng.choice(PRODUCTS)
        data = {
            "cpf": person,
            "data_compra": day,
            "valor": _money(rng, 10, 2000),
            "bandeira_cartao": rng.choice(BRANDS),
            "produto": produto,
            "tipo": tipo,
            "codigo_transacao": uuid.UUID(int=rng.getrandbits(128)).hex[:16].upper(),
        }
    elif kind == "bureau-query":
        empresa, tipo_empresa = rng.choice(COMPANIES)
        data = {
            "cpf": person,
            "empresa": empresa,
            "data_consulta": day,
            "tipo_empresa": tipo_empresa,
        }
    elif kind == "financial-movement":
        data = {
            "cpf": person,
            "tipo_movimentacao": rng.choice(("pix_recebido", "pix_enviado", "ted", "boleto")),
            "data_movimentacao": day,
            "valor": _money(rng, 5, 5000),
            "descricao": "movimentação de demonstração",
        }
    else:
        raise ValueError(f"unknown backend kind {kind}")
    return {
        "eventType": kind,
        "eventDateTime": offset_timestamp(now),
        "version": "1.0",
        "data": data,
    }


def identity(person: str) -> random.Random:
    """The customer's own generator: the same CPF always draws the same person."""
    return random.Random(person)  # noqa: S311  (demo data, not secrets)


def customer(rng: random.Random, person: str) -> dict[str, Any]:
    """A customer whose identity (name, sex, birth date, address) is fixed by the CPF, so an
    update changes only what changes in life: the debts."""
    me = identity(person)
    uf, cidade, bairro = me.choice(CITIES)
    born = datetime(1960, 1, 1) + timedelta(days=me.randrange(365 * 40))
    return {
        "nome": f"{me.choice(FIRST)} {me.choice(LAST)} {me.choice(LAST)}",
        "cpf": person,
        "data_nascimento": born.date().isoformat(),
        "sexo": me.choice(("F", "M")),
        "estado_civil": me.choice(("solteiro", "casado", "divorciado")),
        "endereco": {
            "uf": uf,
            "cidade": cidade,
            "bairro": bairro,
            "longadouro": "Rua das Flores",
            "numero": me.randrange(1, 2000),
            "complemento": "",
        },
        "dividas": [
            {
                "empresa": rng.choice(COMPANIES)[0],
                "valor": _money(rng, 100, 9000),
                "vencimento": (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
            }
        ]
        if rng.random() < 0.4
        else [],
    }


def score_data(person: str) -> dict[str, Any]:
    """Seed 002's Base B body (income sources and assets), fixed by the CPF."""
    me = identity(person)
    me.random()  # a different stream from `customer`'s first draws
    income = [
        {
            "tipo": "salario",
            "descricao": "CLT",
            "valor": float(me.randrange(1500, 20000)),
            "frequencia": "mensal",
        }
    ]
    if me.random() < 0.4:
        income.append(
            {
                "tipo": "aluguel",
                "descricao": "imóvel alugado",
                "valor": float(me.randrange(800, 4000)),
                "frequencia": "mensal",
            }
        )
    assets = (
        [
            {
                "tipo": "imovel",
                "valor_estimado": float(me.randrange(150, 900) * 1000),
                "descricao": "apartamento",
            }
        ]
        if me.random() < 0.5
        else []
    )
    if me.random() < 0.6:
        assets.append(
            {
                "tipo": "veiculo",
                "valor_estimado": float(me.randrange(20, 120) * 1000),
                "descricao": "carro",
            }
        )
    return {"fontes_de_renda": income, "bens": assets}


def ledger_impact(rng: random.Random, now: datetime, accounts: int = 20) -> dict[str, Any]:
    credit = rng.random() < 0.6
    return {
        "tracekey": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "branch": "0001",
        "account": f"{rng.randrange(accounts) + 1:06d}",
        "amount": _money(rng, 1, 500),
        "debitcredit": "C" if credit else "D",
        "eventcode": rng.choice((1, 2)) if credit else rng.choice((3, 4, 6)),
        "description": "demo sale" if credit else "demo expense",
        "details": {"demo": True},
        "dateref": now.date().isoformat(),
    }
