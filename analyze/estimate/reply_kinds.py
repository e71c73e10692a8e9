"""Commands by what their reply is made of, for the reply model's rules (reply_model.py): the
key type each works on (another type answers WRONGTYPE), replies fixed by the command alone,
integer replies bounded by what the command names, replies no rule can size, and the
arguments that shape a reply (ranges, counts, options).
"""

from __future__ import annotations

WRONGTYPE = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

# The type a command works on; a sampled key of another type means a WRONGTYPE error reply.
TYPE_OF: dict[str, str] = {}
for _t, _cmds in {
    "string": "get getex getdel getset getrange substr strlen incr decr incrby decrby incrbyfloat "
    "append setrange getbit bitcount",
    "hash": "hget hmget hgetall hkeys hvals hlen hstrlen hexists hrandfield hscan hincrby "
    "hincrbyfloat hset hsetnx hdel hmset",
    "list": "lrange lindex lpop rpop llen lpush rpush lpushx rpushx linsert lset ltrim lrem lpos",
    "set": "smembers srandmember spop sismember smismember scard sscan sadd srem",
    "zset": "zrange zrevrange zrangebyscore zrevrangebyscore zrangebylex zrevrangebylex zscore "
    "zmscore zcard zrank zrevrank zcount zlexcount zscan zrandmember zpopmin zpopmax zincrby "
    "zadd zrem",
    "stream": "xrange xrevrange xlen xadd xdel xtrim",
}.items():
    for _name in _cmds.split():
        TYPE_OF[_name] = _t

# Replies fixed by the command alone.
OK_COMMANDS = [
    "setex",
    "psetex",
    "mset",
    "hmset",
    "lset",
    "ltrim",
    "rename",
    "select",
    "watch",
    "unwatch",
    "multi",
    "discard",
    "flushdb",
    "flushall",
    "readonly",
    "readwrite",
    "restore",
    "pfmerge",
    "swapdb",
    "auth",
    "asking",
]
ZERO_ONE_COMMANDS = [
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "setnx",
    "hsetnx",
    "sismember",
    "hexists",
    "move",
    "renamenx",
    "smove",
    "msetnx",
    "getbit",
    "setbit",
    "pfadd",
    "copy",
]
# Integer replies bounded by how many keys/elements the command names.
KEY_COUNT_COMMANDS = ("del", "unlink", "exists", "touch")
ELEMENT_COUNT_COMMANDS = ("sadd", "srem", "hdel", "zrem", "xack", "xdel")
PAIR_COUNT_COMMANDS = ("hset", "zadd")
UNKNOWN_COMMANDS = [
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "exec",
    "publish",
    "spublish",
]

# Commands whose arguments after the key (start/stop, counts, options) shape the reply.
ARG_COMMANDS = [
    "lrange",
    "zrange",
    "zrevrange",
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "getrange",
    "substr",
    "lindex",
    "lpop",
    "rpop",
    "spop",
    "srandmember",
    "hrandfield",
    "zrandmember",
    "zpopmin",
    "zpopmax",
    "hscan",
    "sscan",
    "zscan",
    "xrange",
    "xrevrange",
    "incrby",
    "decrby",
]

# Range bounds that reach the end whatever the values (ZRANGEBYSCORE/BYLEX, XRANGE).
INFINITE = ["-inf", "+inf", "-", "+", "-INF", "+INF", "inf", "INF"]
BY_VALUE = [
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "xrange",
    "xrevrange",
]
