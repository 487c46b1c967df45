import { smZooPlugin } from './similarity-matching-zoo.js';

export default smZooPlugin(8);
