from caudal.platform.errors import CaudalError, not_found, unavailable, validation_error


def test_validation_problem_names_the_field() -> None:
    body = validation_error("cpf", "CAU-CUST-CPF-INVALID", "bad check digit").problem("/clientes")
    assert body == {
        "type": "https://caudal.dev/problems/cau-cust-cpf-invalid",
        "title": "Validation failed",
        "status": 422,
        "code": "CAU-CUST-CPF-INVALID",
        "detail": "bad check digit",
        "instance": "/clientes",
        "field": "cpf",
        "errors": [{"field": "cpf", "code": "CAU-CUST-CPF-INVALID", "message": "bad check digit"}],
    }


def test_helpers_set_status_and_headers() -> None:
    assert not_found("customer").status == 404
    down = unavailable("db down", retry_after_s=7)
    assert (down.status, down.headers["Retry-After"], down.code) == (503, "7", "CAU-UNAVAILABLE")
    assert str(CaudalError(code="CAU-X", detail="d")) == "CAU-X: d"
