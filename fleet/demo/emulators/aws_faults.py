"""A loopback proxy in front of moto's server that injects AWS-shaped faults.

moto answers ECS and Application Auto Scaling faithfully but cannot be told to refuse a call; this
proxy forwards every request to moto unchanged and, on demand, answers instead with the JSON error
AWS itself sends (`__type` + `message`, `x-amzn-ErrorType`; the query protocol's XML
`ErrorResponse` for ELBv2/EC2), naming the IAM action from the `X-Amz-Target` header, or from the
SigV4 scope's service and the `Action` parameter or REST route. Throttling is a 400
`ThrottlingException`, as on the real ECS API.
"""

from __future__ import annotations

import http.client
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

from fleet.demo.emulators.server import FakeServer, RecordedRequest, Reply

_PREFIXES = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AnyScaleFrontendService": "application-autoscaling",
    # AWS WAF's JSON target prefix; IAM actions are wafv2:<Operation>.
    # https://docs.aws.amazon.com/waf/latest/APIReference/API_GetWebACLForResource.html
    "AWSWAF_20190729": "wafv2",
    # CloudWatch's AWS JSON 1.0 target prefix (botocore sends X-Amz-Target
    # GraniteServiceVersion20100801.GetMetricData); IAM actions are cloudwatch:<Operation>.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
    "GraniteServiceVersion20100801": "cloudwatch",
    # KMS's target prefix (TrentService.DescribeKey); IAM actions are kms:<Operation>.
    # https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html
    "TrentService": "kms",
}
_ERRORS = {
    403: (400, "AccessDeniedException"),
    404: (400, "ServiceNotFoundException"),
    429: (400, "ThrottlingException"),
    500: (500, "ServerException"),
    503: (503, "ServiceUnavailableException"),
}


# REST APIs name the operation by method and path, not in a header: the ones the tests refuse.
# EFS DescribeFileSystems is `GET /2015-02-01/file-systems`.
# https://docs.aws.amazon.com/efs/latest/ug/API_DescribeFileSystems.html
_REST_OPERATIONS = {("GET", "/2015-02-01/file-systems"): "DescribeFileSystems"}


def iam_action(request: RecordedRequest) -> str:
    """The IAM action an AWS request performs, e.g. `ecs:UpdateService`: from `X-Amz-Target`
    (JSON protocol), else the SigV4 credential scope's service with the query protocol's
    `Action` parameter (ELBv2, EC2, IAM) or a REST route (EFS)."""
    target = request.headers.get("x-amz-target", "")
    prefix, _, operation = target.partition(".")
    if operation:
        return f"{_PREFIXES.get(prefix, prefix)}:{operation}"
    # Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261130/eu-west-1/<service>/aws4_request
    scope = request.headers.get("authorization", "").split("Credential=", 1)[-1].split(",")[0]
    parts = scope.split("/")
    service = parts[3] if len(parts) > 3 else ""
    operation = _query_action(request) or _REST_OPERATIONS.get(
        (request.method, request.path.rstrip("/")), ""
    )
    return f"{service}:{operation}" if service and operation else "unknown"


def _query_action(request: RecordedRequest) -> str:
    """The `Action` of a query-protocol request (form-encoded body)."""
    if request.content_type != "application/x-www-form-urlencoded":
        return ""
    return parse_qs(request.raw_body.decode("utf-8", "replace")).get("Action", [""])[0]


class AwsFaultProxy(FakeServer):
    """Forwards to `upstream` (moto); `fail_next(403)` etc. answer like AWS would."""

    def __init__(self, upstream: str, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.upstream = urlsplit(upstream)

    def fail_action(self, action: str, status: int, count: int = 1) -> None:
        """Fail the next `count` calls of one IAM action, e.g. `ecs:UpdateService`."""
        self.fail_next(status, count, when=lambda request: iam_action(request) == action)

    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        http_status, code = _ERRORS.get(status, (status, "ClientException"))
        if _query_action(request):
            # The query protocol answers XML; a refusal is 403 AccessDenied there.
            # https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/CommonErrors.html
            code, http_status = ("AccessDenied", 403) if status == 403 else (code, http_status)
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{escape(message)}</Message></Error>"
                "<RequestId>fake-request-id</RequestId></ErrorResponse>"
            )
            return Reply(http_status, body, {"content-type": "text/xml"})
        return Reply(
            http_status,
            {"__type": code, "message": message},
            {"x-amzn-ErrorType": code, "x-amzn-RequestId": "fake-request-id"},
        )

    def fault_message(self, status: int, request: RecordedRequest) -> str:
        action = iam_action(request)
        if status == 403:
            return (
                "User: arn:aws:iam::123456789012:user/fleet-console is not authorized to perform: "
                f"{action} because no identity-based policy allows the {action} action"
            )
        if status == 429:
            return "Rate exceeded"
        if status == 404:
            return "Service not found."
        return "Service encountered an internal error."

    def handle(self, request: RecordedRequest) -> Reply:
        # Forward outside the fake's lock so slow upstream calls do not serialise the proxy.
        reply = super().handle(request)
        if reply.status != 0:
            return reply
        return self.answer(request)

    def answer(self, request: RecordedRequest) -> Reply:
        """The reply to a request that is not a fault: moto's (subclasses may rewrite it)."""
        return self._forward(request)

    def route(self, request: RecordedRequest) -> Reply:
        return Reply(0)  # sentinel: not a fault, forward it

    def _forward(self, request: RecordedRequest) -> Reply:
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=30
        )
        path = request.path + (f"?{urlencode(request.query)}" if request.query else "")
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        try:
            connection.request(request.method, path, body=request.raw_body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            passed = {
                k: v
                for k, v in response.getheaders()
                if k.lower()
                not in ("content-length", "transfer-encoding", "connection", "server", "date")
            }
            return Reply(response.status, body, passed)
        finally:
            connection.close()
