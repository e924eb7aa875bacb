// The queue consumers contract against a real rabbitmq broker (one broker for the whole file).
import { startRabbitMq, rabbitMqBinary } from './brokers.js';
import { queueConsumerSuite } from './queue-consumer-suite.js';

queueConsumerSuite('rabbitmq', rabbitMqBinary() ? startRabbitMq : undefined);
