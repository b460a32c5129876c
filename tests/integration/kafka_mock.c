/*
 * kafka_mock.c - a Kafka cluster for the kafka input's tests:
 * librdkafka's mock cluster, run in this process, driven by commands on
 * stdin, one a line. Each command's answer ends with a line "done <cmd>".
 *
 *   (at start)            prints "bootstrap <host:port,...>"
 *   topic NAME PARTS      creates a topic
 *   produce TOPIC FROM TO posts "p<FROM>" .. "p<TO>", keyed by id
 *   bad TOPIC             malformed values: prints "bad <count>"
 *   files TOPIC DIR       each file of DIR as one value: "files <count>"
 *   down ID, up ID        a broker goes down or comes back
 *   fail API COUNT ERR    the next COUNT requests of API key API fail
 *                         with Kafka error code ERR
 *   committed GROUP TOPIC prints "offsets <partition> <committed> <high>"
 *                         for each partition, committed -1 when none
 *   quit
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define TIMEOUT_MS 20000
#define FILE_MAX   (1 << 20)

static rd_kafka_t              *mock_rk, *prod;
static rd_kafka_mock_cluster_t *mcluster;
static char                     bootstraps[512];

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "kafka_mock: %s: %s\n", what, why);
	exit(2);
}

static rd_kafka_t *
new_handle(rd_kafka_type_t type, const char *const *props)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char             err[512];
	rd_kafka_t      *rk;

	for (size_t i = 0; props[i] != NULL; i += 2)
		if (rd_kafka_conf_set(conf, props[i], props[i + 1], err,
		        sizeof(err)) != RD_KAFKA_CONF_OK)
			die(props[i], err);
	if ((rk = rd_kafka_new(type, conf, err, sizeof(err))) == NULL)
		die("rd_kafka_new", err);
	return rk;
}

static void
send_value(const char *topic, const char *key, const void *val, size_t len)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
		    RD_KAFKA_V_VALUE((void *)val, len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(prod, 100);
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("produce", rd_kafka_err2str(err));
}

static void
flush(void)
{
	rd_kafka_resp_err_t err = rd_kafka_flush(prod, TIMEOUT_MS);

	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("flush", rd_kafka_err2str(err));
}

static void
produce(const char *topic, long from, long to)
{
	char id[32], buf[512];
	int  n;

	for (long i = from; i <= to; i++) {
		snprintf(id, sizeof(id), "p%ld", i);
		n = snprintf(buf, sizeof(buf),
		    "{\"id\":\"%s\",\"platform\":\"telegram\",\"channel\":"
		    "\"@c\",\"author\":{\"id\":\"tg:1\",\"handle\":\"@a\","
		    "\"name\":\"A\",\"kind\":\"person\"},\"created_at\":"
		    "\"2021-01-05T10:00:00+06:00\",\"text\":\"vigiltest "
		    "number %ld\"}",
		    id, i);
		send_value(topic, id, buf, (size_t)n);
	}
	flush();
}

static void
bad(const char *topic)
{
	static const char *const values[] = {"{", "not json", "[]",
	    "{\"id\":5}", "{\"id\":\"x\",\"created_at\":\"nope\"}",
	    "\xff\xfe\x00\x01", "null", "{\"id\":\"y\"} trailing"};
	size_t                   n        = sizeof(values) / sizeof(values[0]);

	for (size_t i = 0; i < n; i++)
		send_value(topic, NULL, values[i], strlen(values[i]));
	/* An empty value and a tombstone (no value at all). */
	send_value(topic, NULL, "", 0);
	send_value(topic, NULL, NULL, 0);
	flush();
	printf("bad %zu\n", n + 2);
}

static void
files(const char *topic, const char *dir)
{
	char           path[4096 + 512], *buf = malloc(FILE_MAX);
	struct dirent *de;
	DIR           *d     = opendir(dir);
	size_t         count = 0, len;
	FILE          *f;

	if (d == NULL || buf == NULL)
		die(dir, d == NULL ? strerror(errno) : "out of memory");
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((f = fopen(path, "rb")) == NULL)
			die(path, strerror(errno));
		len = fread(buf, 1, FILE_MAX, f);
		fclose(f);
		send_value(topic, de->d_name, buf, len);
		count++;
	}
	closedir(d);
	free(buf);
	flush();
	printf("files %zu\n", count);
}

/* The group's committed offsets, read with a consumer that never joins
 * it, and each partition's high watermark. */
static void
committed(const char *group, const char *topic)
{
	const char *const props[] = {"bootstrap.servers", bootstraps,
	    "group.id", group, "enable.auto.commit", "false", NULL};
	rd_kafka_t       *c       = new_handle(RD_KAFKA_CONSUMER, props);
	rd_kafka_topic_partition_list_t *list;
	const struct rd_kafka_metadata  *md;
	rd_kafka_topic_t   *rkt = rd_kafka_topic_new(c, topic, NULL);
	rd_kafka_resp_err_t err;
	int64_t             lo, hi;

	err = rd_kafka_metadata(c, 0, rkt, &md, TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1)
		die("metadata", rd_kafka_err2str(err));
	list = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int i = 0; i < md->topics[0].partition_cnt; i++)
		rd_kafka_topic_partition_list_add(
		    list, topic, md->topics[0].partitions[i].id);
	rd_kafka_metadata_destroy(md);
	err = rd_kafka_committed(c, list, TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("committed", rd_kafka_err2str(err));
	for (int i = 0; i < list->cnt; i++) {
		err = rd_kafka_query_watermark_offsets(
		    c, topic, list->elems[i].partition, &lo, &hi, TIMEOUT_MS);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			die("watermarks", rd_kafka_err2str(err));
		printf("offsets %" PRId32 " %" PRId64 " %" PRId64 "\n",
		    list->elems[i].partition,
		    list->elems[i].offset < 0 ? -1 : list->elems[i].offset, hi);
	}
	rd_kafka_topic_partition_list_destroy(list);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(c);
}

static void
fail_requests(int api, int count, int err)
{
	rd_kafka_resp_err_t errs[64];

	if (count < 1 || count > 64)
		die("fail", "count must be 1..64");
	for (int i = 0; i < count; i++)
		errs[i] = (rd_kafka_resp_err_t)err;
	rd_kafka_mock_push_request_errors_array(
	    mcluster, (int16_t)api, (size_t)count, errs);
}

static void
command(char *line)
{
	char a[256], b[4096];
	long x, y, z;

	if (sscanf(line, "topic %255s %ld", a, &x) == 2) {
		if (rd_kafka_mock_topic_create(mcluster, a, (int)x, 1) != 0)
			die("topic", a);
	} else if (sscanf(line, "produce %255s %ld %ld", a, &x, &y) == 3) {
		produce(a, x, y);
	} else if (sscanf(line, "bad %255s", a) == 1) {
		bad(a);
	} else if (sscanf(line, "files %255s %4095s", a, b) == 2) {
		files(a, b);
	} else if (sscanf(line, "down %ld", &x) == 1) {
		rd_kafka_mock_broker_set_down(mcluster, (int32_t)x);
	} else if (sscanf(line, "up %ld", &x) == 1) {
		rd_kafka_mock_broker_set_up(mcluster, (int32_t)x);
	} else if (sscanf(line, "fail %ld %ld %ld", &x, &y, &z) == 3) {
		fail_requests((int)x, (int)y, (int)z);
	} else if (sscanf(line, "committed %255s %4095s", a, b) == 2) {
		committed(a, b);
	} else {
		die("unknown command", line);
	}
	printf("done %s\n", line);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	const char *const mock_props[] = {"log_level", "3", NULL};
	const char *const prod_props[] = {"bootstrap.servers", NULL,
	    "linger.ms", "5", "enable.idempotence", "true", "log_level", "3",
	    NULL};
	const char       *prod_conf[sizeof(prod_props) / sizeof(*prod_props)];
	char              line[8192];
	int               brokers = argc > 1 ? atoi(argv[1]) : 3;

	setvbuf(stdout, NULL, _IOLBF, 0);
	mock_rk  = new_handle(RD_KAFKA_PRODUCER, mock_props);
	mcluster = rd_kafka_mock_cluster_new(mock_rk, brokers);
	if (mcluster == NULL)
		die("mock cluster", "cannot start");
	snprintf(bootstraps, sizeof(bootstraps), "%s",
	    rd_kafka_mock_cluster_bootstraps(mcluster));
	memcpy(prod_conf, prod_props, sizeof(prod_props));
	prod_conf[1] = bootstraps;
	prod         = new_handle(RD_KAFKA_PRODUCER, prod_conf);
	printf("bootstrap %s\n", bootstraps);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		if (line[0] != '\0')
			command(line);
	}
	rd_kafka_destroy(prod);
	rd_kafka_mock_cluster_destroy(mcluster);
	rd_kafka_destroy(mock_rk);
	return 0;
}
