"""The cluster fixture itself: real servers, slots covered, replicas attached."""


def test_cluster_has_three_shards_with_replicas(redis_cluster):
    assert len(redis_cluster.primaries()) == 3
    assert len(redis_cluster.replicas()) == 3
    rc = redis_cluster.cluster_client()
    rc.set("fixture:probe", "1")
    assert rc.get("fixture:probe") == b"1"
