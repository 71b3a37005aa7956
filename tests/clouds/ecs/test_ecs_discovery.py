"""Discovered ECS services come with a URL where the API exposes one: the load balancer listener
that forwards to the service's target group, or its Service Connect client alias."""

from __future__ import annotations

from tests.clouds.ecs.conftest import CLUSTER, REGION, add_service, client


def _load_balancer(endpoint: str) -> tuple[str, str, str]:
    """An application load balancer with an HTTP:8080 listener forwarding to target group
    "weather", and a second target group that only a listener rule (no default action) reaches."""
    ec2, elbv2 = client("ec2", endpoint), client("elbv2", endpoint)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc["VpcId"], CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        for n, zone in ((11, "a"), (12, "b"))
    ]
    balancer = elbv2.create_load_balancer(Name="mcp", Subnets=subnets)["LoadBalancers"][0]
    weather, hidden = (
        elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=8080, VpcId=vpc["VpcId"], TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        for name in ("weather", "hidden")
    )
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": weather}],
    )
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
            }
        ],
    )
    return balancer["DNSName"], weather, hidden


def test_discovery_derives_the_url_from_the_load_balancer(adapter, account, proxy, moto_endpoint):
    dns, weather, hidden = _load_balancer(moto_endpoint)
    for name, group in (("mcp-behind-lb", weather), ("mcp-behind-rule", hidden)):
        add_service(
            moto_endpoint,
            name,
            "mcp-weather",
            loadBalancers=[
                {"targetGroupArn": group, "containerName": "server", "containerPort": 8080}
            ],
        )

    urls = {s.resource: s.url for s in adapter.list_services(account)}

    assert urls["mcp-behind-lb"] == f"http://{dns}:8080"
    assert urls["mcp-behind-rule"] == ""  # only a listener rule reaches it: the console can't tell
    assert urls["agent-backend"] == ""  # no load balancer, no Service Connect: the operator says


def test_discovery_uses_the_service_connect_alias(adapter, account, proxy, moto_endpoint):
    network = client("ecs", moto_endpoint).describe_services(
        cluster=CLUSTER, services=["mcp-weather"]
    )["services"][0]["networkConfiguration"]
    client("ecs", proxy.endpoint).create_service(
        cluster=CLUSTER,
        serviceName="mcp-files",
        taskDefinition="mcp-weather",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
        serviceConnectConfiguration={
            "enabled": True,
            "namespace": "mcp.internal",
            "services": [
                {
                    "portName": "http",
                    "discoveryName": "mcp-files",
                    "clientAliases": [{"port": 8080, "dnsName": "mcp-files.mcp.internal"}],
                }
            ],
        },
    )

    urls = {s.resource: s.url for s in adapter.list_services(account)}

    assert urls["mcp-files"] == "http://mcp-files.mcp.internal:8080"
