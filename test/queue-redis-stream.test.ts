// The queue consumers contract against a real redis-stream broker (one broker for the whole file).
import { startRedis, redisBinary } from './brokers.js';
import { queueConsumerSuite } from './queue-consumer-suite.js';

queueConsumerSuite('redis-stream', redisBinary() ? startRedis : undefined);
