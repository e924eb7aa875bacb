// The queue consumers contract against a real jetstream broker (one broker for the whole file).
import { startNats, natsBinary } from './brokers.js';
import { queueConsumerSuite } from './queue-consumer-suite.js';

queueConsumerSuite('jetstream', natsBinary() ? startNats : undefined);
